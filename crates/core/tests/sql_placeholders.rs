//! SQLite treats `$1`, `$2` … as *named* parameters, numbered by where they
//! first appear in the statement, while rusqlite's `params![]` binds by number.
//! So `SET a = $2 WHERE id = $1` silently binds the wrong values. Our SQL keeps
//! the `$N` form PostgreSQL understands; this test keeps the first appearances
//! in order (1, 2, 3 …) in every string literal of the workspace.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Placeholder numbers in the order they first appear in `sql`.
fn first_appearances(sql: &str) -> Vec<u32> {
    let mut seen = Vec::new();
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > i + 1 {
                if let Ok(n) = sql[i + 1..j].parse::<u32>() {
                    if !seen.contains(&n) {
                        seen.push(n);
                    }
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    seen
}

#[test]
fn placeholders_first_appear_in_ascending_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let Ok(src) = std::fs::read_to_string(&f) else {
            continue;
        };
        // String literals, roughly: text between unescaped double quotes.
        let mut in_str = false;
        let mut start = 0;
        let mut prev = '\0';
        for (i, c) in src.char_indices() {
            if c == '"' && prev != '\\' {
                if in_str {
                    let lit = &src[start..i];
                    let seen = first_appearances(lit);
                    let want: Vec<u32> = (1..=seen.len() as u32).collect();
                    if !seen.is_empty() && seen != want && lit.contains(' ') {
                        bad.push(format!(
                            "{}: {:?} in {:?}",
                            f.display(),
                            seen,
                            &lit[..lit.len().min(80)]
                        ));
                    }
                } else {
                    start = i + 1;
                }
                in_str = !in_str;
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
        }
    }
    assert!(
        bad.is_empty(),
        "placeholders out of order:\n{}",
        bad.join("\n")
    );
}
