use std::fs;

use switchboard_integrations::{
    Error, Fault, Integrations, RouterStatus, Status, ToolId, Warning, tools,
};

use crate::common::*;

#[test]
fn crash_before_rename_leaves_the_old_file() {
    for &tool in tools() {
        let sb = Sandbox::new();
        let original = b"# user content\n".to_vec();
        let it0 = sb.integrations();
        let path = it0.detect(tool).unwrap().config_path;
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let original = match tool {
            ToolId::Codex | ToolId::Aider | ToolId::Goose => original,
            _ => b"{\n  // mine\n}\n".to_vec(),
        };
        fs::write(&path, &original).unwrap();
        let mut it = sb.integrations();
        it.inject_fault(Some(Fault::BeforeRename));
        let err = it.apply(tool, &plan()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{tool}: {err}");
        assert_eq!(
            fs::read(&path).unwrap(),
            original,
            "{tool}: old file intact"
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{tool}: temp files left behind");
        assert_eq!(it.status(tool).unwrap(), Status::NotConfigured, "{tool}");

        // Recovery: the next apply works and undo is exact.
        it.inject_fault(None);
        it.apply(tool, &plan()).unwrap();
        let applied = fs::read(&path).unwrap();

        // A crash while undoing leaves the configured file intact and the state in place.
        it.inject_fault(Some(Fault::BeforeRename));
        assert!(it.undo(tool).is_err());
        assert_eq!(fs::read(&path).unwrap(), applied, "{tool}: new file intact");
        it.inject_fault(None);
        assert_eq!(it.status(tool).unwrap(), Status::Configured, "{tool}");
        it.undo(tool).unwrap();
        assert_eq!(fs::read(&path).unwrap(), original, "{tool}");
    }
}

#[test]
fn interrupted_apply_is_recovered_by_the_next_apply() {
    // The manifest was written, then the process died before the rename.
    let sb = Sandbox::new();
    let original = fixture("codex_config.toml");
    sb.put(".codex/config.toml", &original);
    let mut it = sb.integrations();
    it.apply(ToolId::Codex, &plan()).unwrap();
    let manifest = fs::read(sb.state().join("codex.json")).unwrap();
    it.undo(ToolId::Codex).unwrap();
    fs::write(sb.state().join("codex.json"), manifest).unwrap();
    assert_eq!(it.status(ToolId::Codex).unwrap(), Status::NotConfigured);
    it.inject_fault(None);
    it.apply(ToolId::Codex, &plan()).unwrap();
    it.undo(ToolId::Codex).unwrap();
    assert_eq!(sb.get(".codex/config.toml"), original);
}

#[cfg(unix)]
#[test]
fn permissions_are_preserved_and_new_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let path = sb.put(".claude/settings.json", &fixture("claude_settings.json"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let it = sb.integrations();
    it.apply(ToolId::ClaudeCode, &plan()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    it.undo(ToolId::ClaudeCode).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );

    it.apply(ToolId::Codex, &plan()).unwrap();
    let codex = sb.home().join(".codex/config.toml");
    assert_eq!(
        fs::metadata(&codex).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[cfg(unix)]
#[test]
fn symlinked_config_stays_a_symlink() {
    let sb = Sandbox::new();
    let real = sb.dir.path().join("dotfiles/settings.json");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::write(&real, fixture("claude_settings.json")).unwrap();
    fs::create_dir_all(sb.home().join(".claude")).unwrap();
    let link = sb.home().join(".claude/settings.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let it = sb.integrations();
    it.apply(ToolId::ClaudeCode, &plan()).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(&real)
            .unwrap()
            .contains("ANTHROPIC_BASE_URL")
    );
    it.undo(ToolId::ClaudeCode).unwrap();
    assert_eq!(fs::read(&real).unwrap(), fixture("claude_settings.json"));
}

#[test]
fn endpoints_that_are_not_this_switchboard_are_refused() {
    let sb = Sandbox::new();
    let it = sb.integrations();
    for url in [
        "http://10.0.0.5:9911",
        "https://api.openai.com",
        "http://127.0.0.1:9911/v1",
        "ftp://127.0.0.1",
        "http://user:pw@127.0.0.1:9911",
        "http://localhost.evil.example:9911",
    ] {
        let mut p = plan();
        p.endpoint.base_url = url.into();
        let err = it.apply(ToolId::ClaudeCode, &p).unwrap_err();
        assert!(matches!(err, Error::EndpointRefused { .. }), "{url}: {err}");
    }
    assert!(!sb.home().join(".claude").exists());
    for url in [
        "http://localhost:9911/",
        "http://[::1]:9911",
        "http://127.0.0.2:1",
    ] {
        let mut p = plan();
        p.endpoint.base_url = url.into();
        it.preview(ToolId::ClaudeCode, &p).unwrap();
    }
    let mut p = plan();
    p.endpoint.base_url = "http://10.0.0.5:9911".into();
    p.allow_remote = true;
    it.preview(ToolId::ClaudeCode, &p).unwrap();
}

#[test]
fn the_key_never_shows_in_previews_debug_or_errors() {
    let sb = Sandbox::new();
    sb.put(".claude/settings.json", &fixture("claude_settings.json"));
    let it = sb.integrations();
    for &tool in tools() {
        let preview = it.preview(tool, &plan()).unwrap();
        for file in &preview.files {
            assert!(!file.diff.contains(KEY), "{tool}");
            assert!(!file.after.contains(KEY), "{tool}");
            assert!(!format!("{file:?}").contains(KEY));
        }
        // Zed reads its key only from the environment or its keychain.
        assert!(
            tool == ToolId::Zed
                || preview
                    .files
                    .iter()
                    .any(|f| f.diff.contains("****cdef") && f.after.contains("****cdef")),
            "{tool}: the masked key is shown"
        );
    }
    assert!(!format!("{:?}", plan()).contains(KEY));
    sb.put(
        ".codex/config.toml",
        format!("broken = [\"{KEY}\"\n").as_bytes(),
    );
    let err = it.apply(ToolId::Codex, &plan()).unwrap_err();
    assert!(!err.to_string().contains(KEY));
    assert!(!format!("{err:?}").contains(KEY));
}

#[test]
fn unparseable_files_are_refused_with_file_and_line() {
    let sb = Sandbox::new();
    let broken = b"{\n  \"env\": {\n    \"A\": 1\n    \"B\": 2\n  }\n}\n";
    let path = sb.put(".claude/settings.json", broken);
    let it = sb.integrations();
    let err = it.apply(ToolId::ClaudeCode, &plan()).unwrap_err();
    match &err {
        Error::Unparseable { path: p, line, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 4);
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("settings.json"));
    assert_eq!(sb.get(".claude/settings.json"), broken);
    assert!(!sb.state().join("claude-code.json").exists());

    sb.put(".codex/config.toml", b"a = 1\n[table\nb = 2\n");
    let err = it.apply(ToolId::Codex, &plan()).unwrap_err();
    assert!(matches!(err, Error::Unparseable { line: 2, .. }), "{err}");

    sb.put(".aider.conf.yml", b"- a\n- b\n");
    let err = it.apply(ToolId::Aider, &plan()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedShape { .. }), "{err}");
}

#[test]
fn router_status_becomes_warnings() {
    let sb = Sandbox::new();
    let it = sb.integrations();
    let mut p = plan();
    p.router = Some(RouterStatus {
        running: false,
        routing_enabled: true,
        known_aliases: Some(vec!["gpt-5.5".into(), "fast".into()]),
    });
    let preview = it.preview(ToolId::Codex, &p).unwrap();
    assert!(preview.warnings.contains(&Warning::RouterNotRunning));
    assert!(
        preview
            .warnings
            .contains(&Warning::UnknownAlias("claude-sonnet".into()))
    );
    p.router = Some(RouterStatus {
        running: true,
        routing_enabled: false,
        known_aliases: None,
    });
    let applied = it.apply(ToolId::Codex, &p).unwrap();
    assert_eq!(applied.warnings, vec![Warning::RoutingDisabled]);
}

#[test]
fn detect_finds_binary_version_and_config() {
    let sb = Sandbox::new();
    let it = sb.integrations();
    let d = it.detect(ToolId::Codex).unwrap();
    assert!(!d.installed);
    assert_eq!(it.status(ToolId::Codex).unwrap(), Status::NotInstalled);
    assert_eq!(d.config_path, sb.home().join(".codex/config.toml"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bin = sb.dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let script = bin.join("codex");
        fs::write(&script, "#!/bin/sh\necho 'codex-cli 0.169.0'\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let d = it.detect(ToolId::Codex).unwrap();
        assert!(d.installed);
        assert_eq!(d.binary.as_deref(), Some(script.as_path()));
        assert_eq!(d.version.as_deref(), Some("0.169.0"));
        assert!(!d.config_exists);
        assert_eq!(it.status(ToolId::Codex).unwrap(), Status::NotConfigured);
    }
}

#[test]
fn undo_without_apply_is_an_error_and_tool_ids_round_trip() {
    let sb = Sandbox::new();
    let err = sb.integrations().undo(ToolId::Aider).unwrap_err();
    assert!(matches!(err, Error::NotConfigured(ToolId::Aider)));
    for &tool in tools() {
        assert_eq!(tool.slug().parse::<ToolId>().unwrap(), tool);
    }
    assert!("vim".parse::<ToolId>().is_err());
    let _ = Integrations::new(sb.env(), sb.state());
}

#[test]
fn changing_the_plan_reapplies_and_undo_still_restores_the_original() {
    let sb = Sandbox::new();
    let original = fixture("claude_settings.json");
    sb.put(".claude/settings.json", &original);
    let it = sb.integrations();
    it.apply(ToolId::ClaudeCode, &plan()).unwrap();
    let mut p = plan();
    p.models.main = "other-model".into();
    let applied = it.apply(ToolId::ClaudeCode, &p).unwrap();
    assert!(applied.changed);
    assert!(
        text(&sb.get(".claude/settings.json")).contains("\"ANTHROPIC_MODEL\": \"other-model\"")
    );
    it.undo(ToolId::ClaudeCode).unwrap();
    assert_eq!(sb.get(".claude/settings.json"), original);
}
