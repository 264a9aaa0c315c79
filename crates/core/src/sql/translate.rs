//! SQLite-flavoured SQL to PostgreSQL.
//!
//! Domains write one dialect: the common subset plus a few SQLite forms that
//! have a mechanical PostgreSQL equivalent. This module rewrites those forms, so
//! a migration or query needs its own PostgreSQL text only where the meaning
//! differs (then the file marks it, see [`select_dialect`]).
//!
//! - `INSERT OR IGNORE INTO …` → `INSERT INTO … ON CONFLICT DO NOTHING`
//! - in `CREATE TABLE` / `ALTER TABLE`: `INTEGER PRIMARY KEY [AUTOINCREMENT]` →
//!   an identity column; `INTEGER` → `BIGINT`; `REAL` → `DOUBLE PRECISION`;
//!   `BLOB` → `BYTEA`; `WITHOUT ROWID` and `STRICT` dropped
//! - `PRAGMA …` statements dropped (they tune SQLite only)

/// Keep the lines of `sql` meant for `postgres` (true) or SQLite (false).
///
/// A line `-- @postgres` starts a part only PostgreSQL runs, `-- @sqlite` one
/// only SQLite runs, and `-- @both` returns to the shared text.
pub fn select_dialect(sql: &str, postgres: bool) -> String {
    #[derive(PartialEq)]
    enum Part {
        Both,
        Pg,
        Lite,
    }
    let mut part = Part::Both;
    let mut out = String::with_capacity(sql.len());
    for line in sql.lines() {
        match line.trim() {
            "-- @postgres" => part = Part::Pg,
            "-- @sqlite" => part = Part::Lite,
            "-- @both" => part = Part::Both,
            _ => {
                let keep = match part {
                    Part::Both => true,
                    Part::Pg => postgres,
                    Part::Lite => !postgres,
                };
                if keep {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// A piece of SQL text: a word, something quoted or commented, or anything else.
#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Opaque(&'a str),
    Semi,
    Other(&'a str),
}

fn tokens(sql: &str) -> Vec<Tok<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Word(&sql[start..i]));
        } else if c == b'\'' || c == b'"' {
            i += 1;
            while i < b.len() {
                if b[i] == c {
                    // A doubled quote is an escaped quote inside the literal.
                    if i + 1 < b.len() && b[i + 1] == c {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            out.push(Tok::Opaque(&sql[start..i]));
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            out.push(Tok::Opaque(&sql[start..i]));
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(b.len());
            out.push(Tok::Opaque(&sql[start..i]));
        } else if c == b';' {
            i += 1;
            out.push(Tok::Semi);
        } else {
            // Everything else up to the next interesting byte, kept verbatim
            // (multi-byte UTF-8 never starts with an ASCII byte, so slicing is safe).
            i += 1;
            while i < b.len()
                && !(b[i].is_ascii_alphabetic()
                    || b[i] == b'_'
                    || b[i] == b'\''
                    || b[i] == b'"'
                    || b[i] == b';'
                    || b[i] == b'-'
                    || b[i] == b'/')
            {
                i += 1;
            }
            out.push(Tok::Other(&sql[start..i]));
        }
    }
    out
}

fn is(t: Option<&Tok<'_>>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// Rewrite one statement or a batch of statements for PostgreSQL.
pub fn to_postgres(sql: &str) -> String {
    let toks = tokens(sql);
    let mut out = String::with_capacity(sql.len() + 32);
    let mut stmt: Vec<&Tok<'_>> = Vec::new();
    for t in &toks {
        if *t == Tok::Semi {
            rewrite_statement(&stmt, &mut out);
            out.push(';');
            stmt.clear();
        } else {
            stmt.push(t);
        }
    }
    rewrite_statement(&stmt, &mut out);
    out
}

fn rewrite_statement(stmt: &[&Tok<'_>], out: &mut String) {
    let words: Vec<(usize, &str)> = stmt
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Tok::Word(w) => Some((i, *w)),
            _ => None,
        })
        .collect();
    let first = |n: usize| words.get(n).map(|(_, w)| *w).unwrap_or("");
    if first(0).eq_ignore_ascii_case("PRAGMA") {
        return;
    }
    let ddl = (first(0).eq_ignore_ascii_case("CREATE") && first(1).eq_ignore_ascii_case("TABLE"))
        || (first(0).eq_ignore_ascii_case("ALTER") && first(1).eq_ignore_ascii_case("TABLE"));
    let or_ignore = first(0).eq_ignore_ascii_case("INSERT")
        && first(1).eq_ignore_ascii_case("OR")
        && first(2).eq_ignore_ascii_case("IGNORE");
    // Where `ON CONFLICT DO NOTHING` goes: before a top-level RETURNING, else at the end.
    let returning_at = if or_ignore {
        words
            .iter()
            .rev()
            .find(|(_, w)| w.eq_ignore_ascii_case("RETURNING"))
            .map(|(i, _)| *i)
    } else {
        None
    };
    let mut i = 0;
    let mut trailing = String::new();
    while i < stmt.len() {
        let t = stmt[i];
        if or_ignore && Some(i) == returning_at {
            out.push_str("ON CONFLICT DO NOTHING ");
        }
        match t {
            Tok::Word(w) if or_ignore && (i == words[1].0 || i == words[2].0) => {
                // Drop `OR` and `IGNORE` and the space after each.
                let _ = w;
                i += 1;
                if let Some(Tok::Other(s)) = stmt.get(i) {
                    if s.trim().is_empty() {
                        i += 1;
                    }
                }
                continue;
            }
            Tok::Word(w) if ddl => {
                // The k-th word after this one, when only whitespace and comments
                // stand between (so `v INTEGER, PRIMARY KEY (a, b)` is not a key).
                let next_word = |k: usize| {
                    stmt[i + 1..]
                        .iter()
                        .take_while(|t| match t {
                            Tok::Other(s) => s.trim().is_empty(),
                            Tok::Opaque(s) => s.starts_with("--") || s.starts_with("/*"),
                            Tok::Word(_) => true,
                            Tok::Semi => false,
                        })
                        .filter(|t| matches!(t, Tok::Word(_)))
                        .nth(k)
                        .copied()
                };
                if w.eq_ignore_ascii_case("INTEGER")
                    && is(next_word(0), "PRIMARY")
                    && is(next_word(1), "KEY")
                {
                    out.push_str("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
                    // Skip to just after KEY (and AUTOINCREMENT, if present).
                    let mut seen = 0;
                    i += 1;
                    while i < stmt.len() && seen < 2 {
                        if matches!(stmt[i], Tok::Word(_)) {
                            seen += 1;
                        }
                        i += 1;
                    }
                    let mut j = i;
                    while let Some(Tok::Other(s)) = stmt.get(j) {
                        if !s.trim().is_empty() {
                            break;
                        }
                        j += 1;
                    }
                    if is(stmt.get(j).copied(), "AUTOINCREMENT") {
                        i = j + 1;
                    }
                    continue;
                } else if w.eq_ignore_ascii_case("INTEGER") {
                    out.push_str("BIGINT");
                } else if w.eq_ignore_ascii_case("REAL") {
                    out.push_str("DOUBLE PRECISION");
                } else if w.eq_ignore_ascii_case("BLOB") {
                    out.push_str("BYTEA");
                } else if w.eq_ignore_ascii_case("AUTOINCREMENT") || w.eq_ignore_ascii_case("STRICT") {
                } else if w.eq_ignore_ascii_case("WITHOUT") && is(next_word(0), "ROWID") {
                    // Skip WITHOUT, the space and ROWID.
                    i += 1;
                    while i < stmt.len() && !matches!(stmt[i], Tok::Word(_)) {
                        i += 1;
                    }
                    i += 1;
                    continue;
                } else {
                    out.push_str(w);
                }
            }
            Tok::Word(w) | Tok::Opaque(w) | Tok::Other(w) => out.push_str(w),
            Tok::Semi => out.push(';'),
        }
        i += 1;
    }
    if or_ignore && returning_at.is_none() {
        // Keep trailing whitespace/comments after the clause.
        let trimmed = out.trim_end().len();
        trailing.push_str(&out[trimmed..]);
        out.truncate(trimmed);
        out.push_str(" ON CONFLICT DO NOTHING");
        out.push_str(&trailing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_or_ignore_becomes_on_conflict() {
        assert_eq!(
            to_postgres("INSERT OR IGNORE INTO t (a) VALUES ($1)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            to_postgres("insert or ignore into t (a) values ($1) returning id"),
            "insert into t (a) values ($1) ON CONFLICT DO NOTHING returning id"
        );
    }

    #[test]
    fn ddl_types_map_and_quotes_stay() {
        let got = to_postgres(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, \
             x REAL, b BLOB, s TEXT DEFAULT 'INTEGER') WITHOUT ROWID;\nPRAGMA foo=1;\n\
             CREATE TABLE u (id INTEGER PRIMARY KEY, v INTEGER);\n\
             CREATE TABLE w (a INTEGER,\n PRIMARY KEY (a));",
        );
        assert_eq!(
            got,
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, \
             x DOUBLE PRECISION, b BYTEA, s TEXT DEFAULT 'INTEGER') ;;\n\
             CREATE TABLE u (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v BIGINT);\n\
             CREATE TABLE w (a BIGINT,\n PRIMARY KEY (a));"
        );
    }

    #[test]
    fn queries_pass_through() {
        let q = "SELECT a, 'it''s; -- no' FROM t WHERE b = $1 -- INTEGER\n AND c < 2";
        assert_eq!(to_postgres(q), q);
    }

    #[test]
    fn dialect_sections() {
        let sql = "A;\n-- @postgres\nB;\n-- @sqlite\nC;\n-- @both\nD;\n";
        assert_eq!(select_dialect(sql, true), "A;\nB;\nD;\n");
        assert_eq!(select_dialect(sql, false), "A;\nC;\nD;\n");
    }
}
