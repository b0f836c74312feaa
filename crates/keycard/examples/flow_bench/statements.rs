//! `flow_bench --count-statements`: two flows of one account, one step at a time, against a
//! server that logs `sqlx::query=debug` as JSON; prints the SQL statements each step ran, by
//! kind, and checks that the code redemption and the refresh each change state with at most one
//! statement. A new check: a row in the last loop of [`count_statements`].

use crate::Args;
use crate::browser::{Browser, truncate};
use crate::flow::{Observer, REFRESH, STEPS, Setup, TOKEN, one_flow};
use keycard::dev::oauth_client::basic_auth;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

/// One SQL statement from the server's log.
struct Stmt {
    kind: String,
    table: String,
    rows_affected: u64,
    returning: bool,
}

impl Stmt {
    fn describe(&self) -> String {
        // sqlx counts rows_affected only for statements that return no rows.
        if self.returning {
            format!("{} {} (RETURNING)", self.kind, self.table)
        } else {
            format!(
                "{} {} ({} row{})",
                self.kind,
                self.table,
                self.rows_affected,
                if self.rows_affected == 1 { "" } else { "s" }
            )
        }
    }
}

/// Reads what the server logged since `offset` and keeps the statements.
struct LogTail {
    path: PathBuf,
    offset: u64,
}

impl LogTail {
    fn new(path: PathBuf) -> std::io::Result<LogTail> {
        let offset = std::fs::metadata(&path)?.len();
        Ok(LogTail { path, offset })
    }

    fn skip_to_end(&mut self) {
        if let Ok(m) = std::fs::metadata(&self.path) {
            self.offset = m.len();
        }
    }

    fn read_new(&mut self) -> std::io::Result<Vec<Stmt>> {
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = String::new();
        f.read_to_string(&mut buf)?;
        // Only whole lines: a partial last line is read next time.
        let whole = buf.rfind('\n').map_or(0, |i| i + 1);
        self.offset += whole as u64;
        Ok(buf[..whole].lines().filter_map(parse_stmt).collect())
    }
}

fn parse_stmt(line: &str) -> Option<Stmt> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["target"] != "sqlx::query" {
        return None;
    }
    let f = &v["fields"];
    let full = f["db.statement"].as_str().map(str::trim).filter(|s| !s.is_empty());
    let sql = full.or_else(|| f["summary"].as_str())?.trim().to_owned();
    // The cache's background poll for changes made elsewhere is not part of any request.
    if sql.contains("FROM meta WHERE key LIKE 'epoch:%'") {
        return None;
    }
    let words: Vec<&str> = sql.split_whitespace().collect();
    let kind = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
            .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')).to_owned())
    };
    let table = match kind.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1).map(|s| (*s).to_owned()),
        _ => None,
    }
    .unwrap_or_else(|| truncate(&sql, 40));
    let rows_affected = f["rows_affected"].as_u64().unwrap_or(0);
    let returning = words.iter().any(|w| w.eq_ignore_ascii_case("RETURNING"));
    Some(Stmt { kind, table, rows_affected, returning })
}

/// Collects the statements of each step.
struct Counter {
    tail: LogTail,
    flow: usize,
    rows: Vec<(usize, usize, Vec<Stmt>)>,
    failed: Option<String>,
}

impl Observer for Counter {
    fn before(&mut self, _step: usize) {
        // Anything logged between steps (there should be nothing) is not attributed.
        std::thread::sleep(Duration::from_millis(100));
        if let Err(e) = self.tail.read_new() {
            self.failed = Some(format!("cannot read the server log: {e}"));
        }
    }

    fn after(&mut self, step: usize, _elapsed: Duration) {
        // The response is sent after the statements ran; give the log writer a moment anyway.
        std::thread::sleep(Duration::from_millis(100));
        match self.tail.read_new() {
            Ok(s) => self.rows.push((self.flow, step, s)),
            Err(e) => self.failed = Some(format!("cannot read the server log: {e}")),
        }
    }
}

fn is_write(kind: &str) -> bool {
    matches!(kind, "INSERT" | "UPDATE" | "DELETE" | "REPLACE")
}

pub(crate) async fn count_statements(args: Args) -> i32 {
    let Some(path) = args.server_log.clone() else {
        eprintln!("flow_bench: --count-statements needs --server-log FILE");
        return 2;
    };
    let mut tail = match LogTail::new(path.clone()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("flow_bench: cannot open the server log {}: {e}", path.display());
            return 2;
        }
    };
    tail.skip_to_end();
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(args.timeout))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flow_bench: cannot build the HTTP client: {e}");
            return 2;
        }
    };
    let setup = Setup { auth: basic_auth(&args.client_id, &args.client_secret), args: args.clone() };
    let mut b = Browser::new(http, &args.base);
    let mut c = Counter { tail, flow: 0, rows: Vec::new(), failed: None };
    for flow in 1..=2 {
        c.flow = flow;
        if let Err(e) = one_flow(&setup, &mut b, &args.count_user, &mut c).await {
            eprintln!("flow_bench: flow {flow} failed at {}: {}", STEPS[e.step], e.what);
            return 1;
        }
    }
    if let Some(e) = c.failed {
        eprintln!("flow_bench: {e}");
        return 1;
    }
    let label = if args.label.is_empty() { String::new() } else { format!(" [{}]", args.label) };
    println!(
        "SQL statements per step{label} (server log at sqlx::query=debug; account {}; flow 1 asks for consent, \
         flow 2 has it remembered; both sign in)",
        args.count_user
    );
    println!(
        "{:<14}{:>5}{:>7}{:>7}{:>7}{:>7}{:>6}  writes (rows affected); [other]",
        "step", "flow", "SELECT", "INSERT", "UPDATE", "DELETE", "other"
    );
    let total: usize = c.rows.iter().map(|(_, _, s)| s.len()).sum();
    for (flow, step, stmts) in &c.rows {
        let n = |k: &str| stmts.iter().filter(|s| s.kind == k).count();
        let other =
            stmts.iter().filter(|s| !matches!(s.kind.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE")).count();
        let writes: Vec<String> = stmts
            .iter()
            .filter(|s| s.kind != "SELECT")
            .map(|s| if is_write(&s.kind) { s.describe() } else { format!("[{}]", s.table) })
            .collect();
        println!(
            "{:<14}{:>5}{:>7}{:>7}{:>7}{:>7}{:>6}  {}",
            STEPS[*step],
            flow,
            n("SELECT"),
            n("INSERT"),
            n("UPDATE"),
            n("DELETE"),
            other,
            if writes.is_empty() { "-".to_owned() } else { writes.join(", ") }
        );
    }
    if total == 0 {
        println!("no statements found in {}: is the server logging sqlx::query=debug as JSON?", path.display());
        return 1;
    }
    let mut ok = true;
    for (step, what) in [(TOKEN, "code redemption"), (REFRESH, "refresh rotation")] {
        for (flow, s, stmts) in &c.rows {
            if *s != step {
                continue;
            }
            let writes: Vec<&Stmt> = stmts.iter().filter(|s| is_write(&s.kind)).collect();
            let good = writes.len() <= 1;
            ok &= good;
            println!(
                "  {} {what} (flow {flow}): {} state-changing statement(s){}, {} read(s)",
                if good { "✓" } else { "✗" },
                writes.len(),
                writes.first().map(|w| format!(": {} {}", w.kind, w.table)).unwrap_or_default(),
                stmts.iter().filter(|s| s.kind == "SELECT").count()
            );
        }
    }
    if ok { 0 } else { 1 }
}
