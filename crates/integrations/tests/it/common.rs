use std::fs;
use std::path::{Path, PathBuf};

use similar::{ChangeTag, TextDiff};
use switchboard_integrations::{
    AccessKey, Endpoint, Env, Integrations, Models, Plan, Restored, Status, ToolId,
};
use tempfile::TempDir;

pub const KEY: &str = "sk-sb-CANARY-0123456789abcdef";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read(path).unwrap()
}

pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

pub fn plan() -> Plan {
    Plan::new(
        Endpoint {
            base_url: "http://127.0.0.1:9911".into(),
            access_key: AccessKey::new(KEY),
        },
        Models {
            main: "gpt-5.5".into(),
            small: Some("fast".into()),
            opus: None,
            sonnet: Some("claude-sonnet".into()),
            haiku: None,
        },
    )
}

pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: TempDir::new().unwrap(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn env(&self) -> Env {
        Env::with_home(self.home()).with_var("PATH", self.dir.path().join("bin"))
    }

    pub fn integrations(&self) -> Integrations {
        Integrations::new(self.env(), self.state())
    }

    pub fn put(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.home().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }

    pub fn get(&self, rel: &str) -> Vec<u8> {
        fs::read(self.home().join(rel)).unwrap()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Every line of `before` that is gone in `after` must be one of ours (it names one of our
/// keys) or the same line with a comma added.
pub fn only_ours_changed(before: &str, after: &str, ours: &[&str]) {
    let diff = TextDiff::from_lines(before, after);
    let added: Vec<String> = diff
        .iter_all_changes()
        .filter(|c| c.tag() == ChangeTag::Insert)
        .map(|c| c.value().to_owned())
        .collect();
    for change in diff.iter_all_changes() {
        if change.tag() != ChangeTag::Delete {
            continue;
        }
        let line = change.value();
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let with_comma = format!("{body},{ending}");
        assert!(
            ours.iter().any(|k| line.contains(k)) || added.contains(&with_comma),
            "line not ours was changed: {line:?}\n--- after ---\n{after}"
        );
    }
}

/// The full cycle on one fixture: apply, only ours changed, idempotent, configured, exact
/// undo; then apply, a user edit, drifted, undo keeps the edit and removes ours.
pub fn full_cycle(
    tool: ToolId,
    rel: &str,
    original: &[u8],
    ours: &[&str],
    user_edit: impl Fn(&str) -> String,
) -> String {
    full_cycle_with(tool, rel, original, ours, user_edit, &plan())
}

/// The file's permission bits (Unix).
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// [`full_cycle`] with a given plan; also checks the file's mode is kept.
pub fn full_cycle_with(
    tool: ToolId,
    rel: &str,
    original: &[u8],
    ours: &[&str],
    user_edit: impl Fn(&str) -> String,
    plan: &Plan,
) -> String {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let path = sb.put(rel, original);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let it = sb.integrations();
    let plan = plan.clone();

    assert_eq!(it.status(tool).unwrap(), Status::NotConfigured);
    let applied = it.apply(tool, &plan).unwrap();
    assert!(applied.changed);
    let backup = applied.files[0].backup.clone().unwrap();
    assert_eq!(
        fs::read(&backup).unwrap(),
        original,
        "backup holds the original"
    );
    let after = sb.get(rel);
    assert_eq!(mode(&path), 0o640, "file mode kept");
    only_ours_changed(&text(original), &text(&after), ours);
    if text(original).contains("\r\n") {
        assert_eq!(
            text(&after).matches('\n').count(),
            text(&after).matches("\r\n").count(),
            "CRLF kept:\n{}",
            text(&after)
        );
    }
    assert_eq!(
        original.ends_with(b"\n"),
        after.ends_with(b"\n"),
        "final newline kept"
    );

    let again = it.apply(tool, &plan).unwrap();
    assert!(!again.changed);
    assert_eq!(sb.get(rel), after, "second apply changes nothing");
    assert_eq!(it.status(tool).unwrap(), Status::Configured);

    let undone = it.undo(tool).unwrap();
    assert_eq!(undone.files[0].restored, Restored::Exact);
    assert_eq!(sb.get(rel), original, "undo restores the original bytes");
    assert_eq!(it.status(tool).unwrap(), Status::NotConfigured);

    // Drift: the user edits the file after we configured it.
    it.apply(tool, &plan).unwrap();
    let applied_text = text(&sb.get(rel));
    let edited = user_edit(&applied_text);
    assert_ne!(edited, applied_text, "the user edit must change something");
    fs::write(&path, &edited).unwrap();
    assert!(matches!(it.status(tool).unwrap(), Status::Drifted { .. }));
    let undone = it.undo(tool).unwrap();
    assert_eq!(undone.files[0].restored, Restored::OursRemoved);
    let expected = user_edit(&text(original));
    assert_eq!(text(&sb.get(rel)), expected, "user edit kept, ours removed");
    applied_text
}
