//! Property tests: whatever the user's file looks like (formatting, comments, trailing commas,
//! line endings, other keys), apply + undo gives the original bytes back, and a user edit made
//! after apply survives undo.

use std::fs;

use proptest::prelude::*;
use switchboard_integrations::ToolId;

use crate::common::*;

#[derive(Debug, Clone)]
struct Shape {
    indent: &'static str,
    crlf: bool,
    trailing_commas: bool,
    final_newline: bool,
    members: Vec<(String, String, bool)>,
    with_env: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop_oneof![Just("  "), Just("    "), Just("\t")],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(
            (
                "[a-z][a-zA-Z0-9_]{0,8}",
                "[ -~&&[^\"\\\\]]{0,12}",
                any::<bool>(),
            ),
            0..6,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(indent, crlf, trailing_commas, final_newline, members, with_env)| Shape {
                indent,
                crlf,
                trailing_commas,
                final_newline,
                members,
                with_env,
            },
        )
}

fn render(s: &Shape) -> String {
    let nl = if s.crlf { "\r\n" } else { "\n" };
    let i = s.indent;
    let mut lines: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v, comment) in &s.members {
        if !seen.insert(k.clone()) {
            continue;
        }
        if *comment {
            lines.push(format!("{i}// about {k}{nl}{i}\"{k}\": \"{v}\""));
        } else {
            lines.push(format!("{i}\"{k}\": \"{v}\" /* c */"));
        }
    }
    if s.with_env {
        lines.push(format!(
            "{i}\"env\": {{{nl}{i}{i}\"USER_VAR\": \"x\"{nl}{i}}}"
        ));
    }
    let mut out = format!("{{{nl}");
    for (n, line) in lines.iter().enumerate() {
        out.push_str(line);
        if n + 1 < lines.len() || s.trailing_commas {
            out.push(',');
        }
        out.push_str(nl);
    }
    out.push('}');
    if s.final_newline {
        out.push_str(nl);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn apply_undo_round_trips_and_user_edits_survive(s in shape(), edit_key in "[a-z]{1,6}x") {
        for tool in [ToolId::ClaudeCode, ToolId::OpenCode] {
            let sb = Sandbox::new();
            let original = render(&s);
            let it = sb.integrations();
            let path = it.detect(tool).unwrap().config_path;
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &original).unwrap();

            it.apply(tool, &plan()).unwrap();
            let applied = fs::read_to_string(&path).unwrap();
            let parsed_ok = !applied.contains("//") && !applied.contains("/*") && !s.trailing_commas;
            if parsed_ok {
                serde_json::from_str::<serde_json::Value>(&applied).unwrap();
            }
            prop_assert!(!it.apply(tool, &plan()).unwrap().changed);
            it.undo(tool).unwrap();
            prop_assert_eq!(fs::read_to_string(&path).unwrap(), original.clone());

            // A user edit right after the opening brace survives undo. (In an empty object
            // the user's comma would separate their member from ours, and goes with ours.)
            if s.members.is_empty() && !s.with_env {
                continue;
            }
            it.apply(tool, &plan()).unwrap();
            let nl = if s.crlf { "\r\n" } else { "\n" };
            let insert = format!("{nl}{}\"{edit_key}\": 1,", s.indent);
            let edit = |t: &str| t.replacen('{', &format!("{{{insert}"), 1);
            fs::write(&path, edit(&fs::read_to_string(&path).unwrap())).unwrap();
            it.undo(tool).unwrap();
            prop_assert_eq!(fs::read_to_string(&path).unwrap(), edit(&original));
        }
    }
}
