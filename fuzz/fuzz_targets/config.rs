#![no_main]
//! Configuration files (`keycard.toml`): `Config::load_toml`, the same figment path as
//! `Config::load` (defaults, the TOML document, `KEYCARD_*` variables, the provisioning file,
//! then `Config::validate`) without a file per input. Inputs: arbitrary text, and
//! keycard.example.toml with its assignments uncommented (a full valid configuration) with one
//! line removed, doubled or edited. Asserts: a refusal is one non-empty line; the example file
//! itself loads.

use arbitrary::Arbitrary;
use keycard::config::Config;
use keycard_fuzz::Edit;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// keycard.example.toml with its assignments uncommented (as the config unit tests do).
fn example() -> &'static Vec<String> {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines: Vec<String> = include_str!("../../keycard.example.toml")
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| (l.contains(" = ") || l.starts_with('[')) && !l.starts_with("provision_file"))
            .map(str::to_owned)
            .collect();
        if let Err(e) = Config::load_toml(&lines.join("\n")) {
            panic!("the example configuration does not load: {}", e.0);
        }
        lines
    })
}

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String),
    Example { line: u16, op: u8, edit: Edit },
}

fn check(doc: &str) {
    if let Err(e) = Config::load_toml(doc) {
        assert!(!e.0.is_empty(), "an empty error");
        assert!(!e.0.contains('\n'), "a multi-line error: {}", e.0);
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(t) => check(&t),
        Input::Example { line, op, edit } => {
            let mut lines = example().clone();
            let i = usize::from(line) % lines.len();
            match op % 3 {
                0 => {
                    lines.remove(i);
                }
                1 => {
                    let l = lines[i].clone();
                    lines.insert(i, l);
                }
                _ => match edit.apply(&lines[i]).map(String::from_utf8) {
                    Some(Ok(l)) => lines[i] = l,
                    _ => return,
                },
            }
            check(&lines.join("\n"));
        }
    }
});
