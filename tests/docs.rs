//! The committed shell completions (`completions/`) and man pages (`man/`) must be exactly what
//! the clap definitions generate today; regenerate them with `cargo run -- generate .`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

const REGENERATE: &str = "run `cargo run -- generate .` and commit the result";

fn names(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sub in ["completions", "man"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            out.insert(format!("{sub}/{}", entry.file_name().to_string_lossy()));
        }
    }
    out
}

#[test]
fn committed_completions_and_man_pages_are_up_to_date() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    mailpull::docs::generate(tmp.path()).unwrap();

    let generated = names(tmp.path());
    let committed = names(repo);
    assert!(
        generated.contains("man/mailpull.1") && generated.contains("completions/_mailpull"),
        "generate wrote too little: {generated:?}"
    );
    assert_eq!(
        committed, generated,
        "the files in completions/ and man/ differ from what is generated: {REGENERATE}"
    );
    for name in &generated {
        let want = fs::read(tmp.path().join(name)).unwrap();
        let have = fs::read(repo.join(name)).unwrap();
        assert!(have == want, "{name} is stale: {REGENERATE}");
    }
}

#[test]
fn generating_twice_gives_the_same_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    mailpull::docs::generate(a.path()).unwrap();
    mailpull::docs::generate(b.path()).unwrap();
    for name in names(a.path()) {
        assert_eq!(
            fs::read(a.path().join(&name)).unwrap(),
            fs::read(b.path().join(&name)).unwrap(),
            "{name} is not deterministic"
        );
    }
}

#[test]
fn man_page_documents_exit_status_environment_files_and_examples() {
    let tmp = tempfile::tempdir().unwrap();
    mailpull::docs::generate(tmp.path()).unwrap();
    let page = fs::read_to_string(tmp.path().join("man/mailpull.1")).unwrap();
    for needle in [
        ".SH \"EXIT STATUS\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"FILES\"",
        ".SH \"EXAMPLES\"",
        "MAILPULL_PASSWORD",
        "MAILPULL_CONFIG",
        "MAILPULL_LEDGER",
        "~/.config/mailpull/config.toml",
        "~/.local/share/mailpull/ledger.sqlite",
        "locks/",
    ] {
        assert!(page.contains(needle), "man/mailpull.1 lacks {needle:?}");
    }
    for code in ["0", "1", "64", "69", "74", "75", "76", "77", "78"] {
        assert!(
            page.lines().any(|l| l.starts_with(&format!("{code} "))),
            "man/mailpull.1 does not document exit code {code}"
        );
    }
    // The hidden developer command stays out of the man pages and completions.
    assert!(!tmp.path().join("man/mailpull-generate.1").exists());
    let bash = fs::read_to_string(tmp.path().join("completions/mailpull.bash")).unwrap();
    assert!(
        !bash.contains("generate"),
        "completions offer the hidden generate command"
    );
}

/// The section of `text` from the line `start` to the next line starting with `end` (or to
/// the end).
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"));
    let rest = &text[from + start.len()..];
    match rest.find(end) {
        Some(to) => &rest[..to],
        None => rest,
    }
}

/// The files lists of `mailpull --help` (and so the man page) and of the README name every
/// file mailpull keeps, the OAuth 2 token records included.
#[test]
fn files_lists_name_the_oauth_token_store() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailpull"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for (what, files) in [
        ("--help", section(&help, "\nFiles:\n", "\n\n")),
        ("README", section(&readme, "\n## Files\n", "\n## ")),
    ] {
        for needle in [
            "~/.config/mailpull/config.toml",
            "~/.local/share/mailpull/ledger.sqlite",
            "~/.local/share/mailpull/locks/",
            "~/.local/share/mailpull/oauth/",
            "mailpull auth login",
        ] {
            assert!(
                files.contains(needle),
                "{what}'s files list lacks {needle:?}:\n{files}"
            );
        }
        let oauth = &files[files.find("mailpull/oauth/").unwrap()..];
        assert!(
            oauth.contains("0600"),
            "{what}: the token records' mode:\n{oauth}"
        );
    }
}

/// The exit codes in `mailpull --help` (and so in the man page) are the README's.
#[test]
fn exit_codes_match_the_readme() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme
        .split("## Exit codes")
        .nth(1)
        .expect("README has an Exit codes section");
    let readme_codes: BTreeSet<&str> = table
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next())
        .filter(|c| c.chars().all(|ch| ch.is_ascii_digit()))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    mailpull::docs::generate(tmp.path()).unwrap();
    let page = fs::read_to_string(tmp.path().join("man/mailpull.1")).unwrap();
    let section = page
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .unwrap()
        .split(".SH ")
        .next()
        .unwrap();
    let man_codes: BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit()))
        .collect();
    assert_eq!(
        readme_codes, man_codes,
        "exit codes in README.md and src/cli.rs differ"
    );
}

/// mailpull.toml(5) documents every key of the configuration file (the table it is made from
/// is checked against the parser by `config::docs`'s unit test).
#[test]
fn the_config_man_page_documents_every_key() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = fs::read_to_string(repo.join("man/mailpull.toml.5")).expect(REGENERATE);
    assert!(page.contains(".TH mailpull.toml 5"), "{page}");
    for k in mailpull::config::docs::KEYS {
        let entry = format!(".TP\n\\fB{}\\fR = ", k.key.replace('-', "\\-"));
        assert!(page.contains(&entry), "mailpull.toml.5 lacks {}", k.key);
    }
    for section in ["TABLES", "ACCOUNT KEYS", "RECEIPT KEYS"] {
        assert!(page.contains(&format!(".SH \"{section}\"")), "{section}");
    }
}
