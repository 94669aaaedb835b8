//! The domain's states at the row boundary: sqlx binds and reads each of them through its one
//! stored spelling, so `.bind(OrderStatus::Paid)` and `row.try_get("status")` need no text in
//! between, and a value the mapping does not know fails the row (`sqlx::Error::ColumnDecode`)
//! instead of passing for some other state.
//!
//! Some statements keep their states as SQL literals: the payment path, whose statements are
//! the hot ones, and those whose condition must imply a partial index's for the planner to use
//! it, which a plan made for any value of a parameter cannot. A test below reads every SQL
//! string of the service and checks each such literal against the mapping of its column.

use sqlx::any::{AnyRow, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, Database, Decode, Encode, Row, Type};
use wechat_pay_v2::SignType;

use crate::domain::states::{
    BatchKind, BatchStatus, BillCheckState, BillDifference, CallbackKind, CallbackOutcome,
    CheckinRefusal, ExamReview, ExamStatus, Flags, OrderStatus, RefundStatus, RegistrationStatus,
};

macro_rules! stored_as_text {
    ($($state:ty),+ $(,)?) => {$(
        impl Type<Any> for $state {
            fn type_info() -> AnyTypeInfo {
                <str as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <str as Type<Any>>::compatible(ty)
            }
        }

        impl Encode<'_, Any> for $state {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<Any>>::encode(self.to_string(), buf)
            }
        }

        impl<'r> Decode<'r, Any> for $state {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<Any>>::decode(value)?.parse::<$state>()?)
            }
        }
    )+};
}

stored_as_text!(
    RegistrationStatus,
    OrderStatus,
    RefundStatus,
    ExamStatus,
    BatchStatus,
    BatchKind,
    CallbackKind,
    CallbackOutcome,
    CheckinRefusal,
    ExamReview,
    BillCheckState,
    BillDifference,
);

fn column_error(
    column: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: format!("{column:?}"),
        source: Box::new(source),
    }
}

/// The sign type an order was placed with, read through `SignType`'s own mapping (the protocol
/// library's type, so sqlx's traits cannot be given to it here).
pub fn sign_type(row: &AnyRow, column: &str) -> Result<SignType, sqlx::Error> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| column_error(column, e))
}

/// A registration's `flags` and `needs_refund` columns, as one set.
pub fn flags(row: &AnyRow) -> Result<Flags, sqlx::Error> {
    let text: String = row.try_get("flags")?;
    let needs_refund = row.try_get::<i64, _>("needs_refund")? != 0;
    Flags::parse(&text, needs_refund).map_err(|e| column_error("flags", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::states::UnknownValue;

    #[tokio::test]
    async fn states_go_in_and_come_out_as_their_text_and_strangers_fail_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::Db::connect(&format!("sqlite://{}/s.db", dir.path().display()))
            .await
            .unwrap();
        let row = sqlx::query("SELECT $1 AS status, $2 AS outcome, 'payed' AS bad")
            .bind(OrderStatus::Prepaid)
            .bind(CallbackOutcome::Refused(
                crate::domain::states::Refusal::AmountMismatch,
            ))
            .fetch_one(&db.read)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>("status").unwrap(), "prepaid");
        assert_eq!(
            row.try_get::<OrderStatus, _>("status").unwrap(),
            OrderStatus::Prepaid
        );
        assert_eq!(
            row.try_get::<String, _>("outcome").unwrap(),
            "refused: amount mismatch"
        );
        match row.try_get::<RegistrationStatus, _>("bad") {
            Err(sqlx::Error::ColumnDecode { index, source }) => {
                assert_eq!(index, "\"bad\"");
                let unknown = source.downcast_ref::<UnknownValue>();
                assert_eq!(
                    unknown.map(|u| (u.column, u.value.as_str())),
                    Some(("registrations.status", "payed"))
                );
            }
            other => panic!("an unknown status must fail the row, got {other:?}"),
        }
        let row =
            sqlx::query("SELECT 'MD5' AS a, 'SHA1' AS b, 'no_seat;x;' AS flags, 0 AS needs_refund")
                .fetch_one(&db.read)
                .await
                .unwrap();
        assert_eq!(sign_type(&row, "a").unwrap(), SignType::Md5);
        assert!(matches!(
            sign_type(&row, "b"),
            Err(sqlx::Error::ColumnDecode { .. })
        ));
        assert!(matches!(flags(&row), Err(sqlx::Error::ColumnDecode { .. })));
    }

    /// The string literals of Rust source: escapes resolved, `\`-continued lines joined.
    fn string_literals(src: &str) -> Vec<String> {
        let c: Vec<char> = src.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
        while i < c.len() {
            match c[i] {
                '/' if c.get(i + 1) == Some(&'/') => {
                    while i < c.len() && c[i] != '\n' {
                        i += 1;
                    }
                }
                '/' if c.get(i + 1) == Some(&'*') => {
                    while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                        i += 1;
                    }
                    i += 2;
                }
                // A char literal ('"', '\'', 'x'); otherwise a lifetime.
                '\'' if c.get(i + 1) == Some(&'\\') => {
                    i += 3;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                }
                '\'' if c.get(i + 2) == Some(&'\'') => i += 3,
                'r' if (i == 0 || !ident(c[i - 1]))
                    && matches!(c.get(i + 1), Some('"') | Some('#')) =>
                {
                    let mut j = i + 1;
                    let mut hashes = 0;
                    while c.get(j) == Some(&'#') {
                        hashes += 1;
                        j += 1;
                    }
                    if c.get(j) != Some(&'"') {
                        i += 1;
                        continue;
                    }
                    j += 1;
                    let start = j;
                    let closes =
                        |k: usize| c[k] == '"' && (1..=hashes).all(|h| c.get(k + h) == Some(&'#'));
                    while j < c.len() && !closes(j) {
                        j += 1;
                    }
                    out.push(c[start..j.min(c.len())].iter().collect());
                    i = j + 1 + hashes;
                }
                '"' => {
                    let mut s = String::new();
                    i += 1;
                    while i < c.len() && c[i] != '"' {
                        if c[i] == '\\' {
                            i += 1;
                            match c.get(i) {
                                Some('\n') => {
                                    while i + 1 < c.len() && c[i + 1].is_whitespace() {
                                        i += 1;
                                    }
                                }
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&other) => s.push(other),
                                None => {}
                            }
                        } else {
                            s.push(c[i]);
                        }
                        i += 1;
                    }
                    out.push(s);
                    i += 1;
                }
                _ => i += 1,
            }
        }
        out
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Word(String),
        Text(String),
        Sym(char),
    }

    fn tokens(sql: &str) -> Vec<Tok> {
        let c: Vec<char> = sql.chars().collect();
        let word = |ch: char| ch.is_alphanumeric() || "_.${}".contains(ch);
        let mut out = Vec::new();
        let mut i = 0;
        while i < c.len() {
            if c[i].is_whitespace() {
                i += 1;
            } else if c[i] == '\'' {
                let mut s = String::new();
                i += 1;
                while i < c.len() {
                    if c[i] == '\'' && c.get(i + 1) == Some(&'\'') {
                        s.push('\'');
                        i += 2;
                    } else if c[i] == '\'' {
                        break;
                    } else {
                        s.push(c[i]);
                        i += 1;
                    }
                }
                out.push(Tok::Text(s));
                i += 1;
            } else if word(c[i]) {
                let start = i;
                while i < c.len() && word(c[i]) {
                    i += 1;
                }
                out.push(Tok::Word(c[start..i].iter().collect()));
            } else {
                out.push(Tok::Sym(c[i]));
                i += 1;
            }
        }
        out
    }

    const KEYWORDS: &[&str] = &[
        "WHERE",
        "SET",
        "ON",
        "LEFT",
        "RIGHT",
        "INNER",
        "JOIN",
        "ORDER",
        "GROUP",
        "LIMIT",
        "VALUES",
        "AS",
        "AND",
        "OR",
        "RETURNING",
        "USING",
        "FOR",
        "OFFSET",
    ];

    fn is_keyword(word: &str) -> bool {
        KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
    }

    /// The tables (with their aliases) of each parenthesised scope of a statement, and each
    /// token's scope; a scope's parent is the one it opened in.
    struct Scopes {
        parent: Vec<Option<usize>>,
        tables: Vec<Vec<(String, Option<String>)>>,
        of_token: Vec<usize>,
    }

    fn scopes(toks: &[Tok]) -> Scopes {
        let mut s = Scopes {
            parent: vec![None],
            tables: vec![Vec::new()],
            of_token: Vec::with_capacity(toks.len()),
        };
        let mut stack = vec![0];
        for (i, tok) in toks.iter().enumerate() {
            let current = *stack.last().unwrap_or(&0);
            match tok {
                Tok::Sym('(') => {
                    s.parent.push(Some(current));
                    s.tables.push(Vec::new());
                    stack.push(s.parent.len() - 1);
                }
                Tok::Sym(')') if stack.len() > 1 => {
                    stack.pop();
                }
                Tok::Word(w)
                    if ["FROM", "JOIN", "UPDATE", "INTO"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(w)) =>
                {
                    if let Some(Tok::Word(table)) = toks.get(i + 1) {
                        let alias = match (toks.get(i + 2), toks.get(i + 3)) {
                            (Some(Tok::Word(a)), Some(Tok::Word(b)))
                                if a.eq_ignore_ascii_case("AS") =>
                            {
                                Some(b.clone())
                            }
                            (Some(Tok::Word(a)), _) if !is_keyword(a) => Some(a.clone()),
                            _ => None,
                        };
                        s.tables[current].push((table.clone(), alias));
                    }
                }
                _ => {}
            }
            s.of_token.push(current);
        }
        s
    }

    /// The aliases the service's SQL always gives these tables, for fragments (a `WHERE` part
    /// kept apart from its statement) that do not declare them.
    const ALIASES: &[(&str, &str)] = &[
        ("o", "orders"),
        ("r", "registrations"),
        ("f", "refunds"),
        ("e", "exams"),
    ];

    impl Scopes {
        fn resolve(&self, token: usize, qualifier: Option<&str>) -> Option<String> {
            let mut scope = Some(self.of_token[token]);
            while let Some(id) = scope {
                let tables = &self.tables[id];
                let found = match qualifier {
                    None => tables.first(),
                    Some(q) => tables
                        .iter()
                        .find(|(t, a)| t == q || a.as_deref() == Some(q)),
                };
                if let Some((table, _)) = found {
                    return Some(table.clone());
                }
                scope = self.parent[id];
            }
            let q = qualifier?;
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == q)
                .map(|(_, table)| table.to_string())
        }
    }

    /// The literals compared with (or appended to) a column at token `i`.
    fn literals_after(toks: &[Tok], i: usize) -> Vec<String> {
        let at = |k: usize| toks.get(i + k);
        let text = |k: usize| match at(k) {
            Some(Tok::Text(t)) => Some(t.clone()),
            _ => None,
        };
        let word =
            |k: usize, w: &str| matches!(at(k), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w));
        let sym = |k: usize, ch: char| at(k) == Some(&Tok::Sym(ch));
        if sym(1, '=') {
            return text(2).into_iter().collect();
        }
        // `(status || '') IN (…)`: the column kept away from its index, compared all the same.
        if sym(1, '|') && sym(2, '|') && text(3).as_deref() == Some("") && sym(4, ')') {
            return literals_after(toks, i + 4);
        }
        if (sym(1, '<') && sym(2, '>'))
            || (sym(1, '!') && sym(2, '='))
            || (sym(1, '|') && sym(2, '|'))
        {
            return text(3).into_iter().collect();
        }
        let list_at = if word(1, "IN") {
            2
        } else if word(1, "NOT") && word(2, "IN") {
            3
        } else {
            return Vec::new();
        };
        if !sym(list_at, '(') {
            return Vec::new();
        }
        let mut found = Vec::new();
        let mut k = list_at + 1;
        while let Some(t) = text(k) {
            found.push(t);
            if !sym(k + 1, ',') {
                break;
            }
            k += 2;
        }
        found
    }

    const STATE_TABLES: &[&str] = &[
        "registrations",
        "orders",
        "refunds",
        "exams",
        "ticket_batches",
        "wechat_callbacks",
        "refused_callbacks",
        "checkin_refusals",
        "bill_checks",
        "bill_differences",
    ];

    fn check_literal(table: &str, column: &str, literal: &str) -> Result<(), String> {
        let unknown = |e: UnknownValue| e.to_string();
        match (table, column) {
            ("registrations", "status") => literal
                .parse::<RegistrationStatus>()
                .map(drop)
                .map_err(unknown),
            ("orders", "status") => literal.parse::<OrderStatus>().map(drop).map_err(unknown),
            ("refunds", "status") => literal.parse::<RefundStatus>().map(drop).map_err(unknown),
            ("exams", "status") => literal.parse::<ExamStatus>().map(drop).map_err(unknown),
            ("ticket_batches", "status") => {
                literal.parse::<BatchStatus>().map(drop).map_err(unknown)
            }
            ("ticket_batches", "kind") => literal.parse::<BatchKind>().map(drop).map_err(unknown),
            ("exams", "review") => literal.parse::<ExamReview>().map(drop).map_err(unknown),
            ("bill_checks", "state") => {
                literal.parse::<BillCheckState>().map(drop).map_err(unknown)
            }
            ("bill_differences", "kind") => {
                literal.parse::<BillDifference>().map(drop).map_err(unknown)
            }
            ("checkin_refusals", "reason") => {
                literal.parse::<CheckinRefusal>().map(drop).map_err(unknown)
            }
            ("refused_callbacks", "kind") => {
                literal.parse::<CallbackKind>().map(drop).map_err(unknown)
            }
            ("refused_callbacks", "reason") => literal
                .parse::<crate::domain::states::Refusal>()
                .map(drop)
                .map_err(unknown),
            ("wechat_callbacks", "kind") => {
                literal.parse::<CallbackKind>().map(drop).map_err(unknown)
            }
            ("wechat_callbacks", "outcome") => literal
                .parse::<CallbackOutcome>()
                .map(drop)
                .map_err(unknown),
            ("registrations", "flags") => Flags::parse(literal, false).map(drop).map_err(unknown),
            _ => Err(format!("no stored state is known for {table}.{column}")),
        }
    }

    /// Checks the state literals of one SQL string: how many it has, and what is wrong.
    fn check_sql(sql: &str, problems: &mut Vec<String>) -> usize {
        let toks = tokens(sql);
        let scopes = scopes(&toks);
        let mut checked = 0;
        for (i, tok) in toks.iter().enumerate() {
            let Tok::Word(w) = tok else { continue };
            if w.eq_ignore_ascii_case("INSERT")
                && let Some(Tok::Word(table)) = toks.get(i + 2)
                && STATE_TABLES.contains(&table.as_str())
                && toks.iter().skip(i).any(|t| matches!(t, Tok::Text(_)))
            {
                problems.push(format!(
                    "`{sql}`: bind the values of an INSERT into {table}"
                ));
            }
            let (qualifier, column) = match w.rsplit_once('.') {
                Some((q, c)) => (Some(q), c),
                None => (None, w.as_str()),
            };
            if !["status", "kind", "outcome", "flags"].contains(&column) {
                continue;
            }
            let literals = literals_after(&toks, i);
            if literals.is_empty() {
                continue;
            }
            let Some(table) = scopes.resolve(i, qualifier) else {
                problems.push(format!("`{sql}`: cannot tell the table of {w}"));
                continue;
            };
            for literal in literals {
                checked += 1;
                if let Err(e) = check_literal(&table, column, &literal) {
                    problems.push(format!("`{sql}`: {w} '{literal}': {e}"));
                }
            }
        }
        checked
    }

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every state written as a literal in the SQL of the service (its tests' too) is one its
    /// column's mapping knows, so a typo cannot ship.
    #[test]
    fn every_state_literal_in_sql_is_a_known_state() {
        let mut files = Vec::new();
        rust_files(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 30, "the sources were not found: {files:?}");
        let mut problems = Vec::new();
        let mut checked = 0;
        // This file's own samples are wrong on purpose.
        for file in files.iter().filter(|f| !f.ends_with(file!())) {
            let src = std::fs::read_to_string(file).unwrap_or_default();
            let before = problems.len();
            for literal in string_literals(&src) {
                checked += check_sql(&literal, &mut problems);
            }
            for p in &mut problems[before..] {
                *p = format!("{}: {p}", file.display());
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // The payment path and the partial-index conditions alone have more than this.
        assert!(
            checked >= 30,
            "only {checked} literals found: is the scan blind?"
        );
        eprintln!("{checked} state literals checked in {} files", files.len());
    }

    #[test]
    fn the_scan_catches_what_it_is_for() {
        let problems = |sql: &str| {
            let mut p = Vec::new();
            check_sql(sql, &mut p);
            p
        };
        for bad in [
            "UPDATE orders SET status = 'payed' WHERE id = $1",
            "SELECT 1 FROM registrations r WHERE r.status IN ('paid', 'success')",
            "SELECT 1 FROM orders o JOIN refunds f ON f.order_id = o.id WHERE f.status = 'paid'",
            "SELECT (SELECT COUNT(*) FROM refunds WHERE status = 'requested') FROM orders WHERE status = 'requested'",
            "UPDATE registrations SET flags = flags || 'paid_late;' WHERE id = $1",
            "SELECT 1 FROM exams WHERE status <> 'opened'",
            "SELECT 1 FROM orders WHERE status NOT IN ('created', 'refunded')",
            "SELECT 1 FROM orders o WHERE (o.status || '') IN ('created', 'payed')",
            "SELECT 1 FROM wechat_callbacks WHERE outcome = 'refused: whatever'",
            "SELECT 1 FROM registrations WHERE q.status = 'paid'",
            "INSERT INTO orders (status) VALUES ('created')",
            "SELECT 1 FROM admins WHERE status = 'paid'",
        ] {
            assert_eq!(problems(bad).len(), 1, "{bad}: {:?}", problems(bad));
        }
        let good = "UPDATE registrations SET status = 'paid', flags = flags || 'paid_after_expiry;' \
            WHERE id = $1 AND status IN ('expired', 'cancelled') AND NOT EXISTS (SELECT 1 FROM \
            registrations live WHERE live.status IN ('pending_payment', 'paid', 'refunding')) \
            AND id = (SELECT registration_id FROM orders WHERE status = 'paid') AND status <> 'refunded'";
        let mut p = Vec::new();
        assert_eq!(check_sql(good, &mut p), 9);
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn sql_is_read_out_of_rust_strings() {
        let src = r#"
            // a comment's "quotes" are not code
            let q = '"';
            fn f<'a>(x: &'a str) {}
            sqlx::query("UPDATE orders SET status = 'paid' \
                         WHERE id = $1 AND x = \"y\"");
            let raw = r"SELECT 'raw'";
        "#;
        assert_eq!(
            string_literals(src),
            [
                "UPDATE orders SET status = 'paid' WHERE id = $1 AND x = \"y\"",
                "SELECT 'raw'"
            ]
        );
    }
}
