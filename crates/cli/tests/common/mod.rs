//! Shared harness of the `yhconv` binary's end-to-end tests: a real
//! `yhconv serve` child process on a free port and a temporary database, and
//! helpers that run `yhconv` commands as a user would and check their output.
//!
//! Every command runs with the `YHCONV_*` variables of the test's own
//! environment removed, so a developer's exported token or base URL cannot
//! leak into a test.

// Each test file uses its own subset of the helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// How long a server may take to start answering `/healthz`.
pub const STARTUP: Duration = Duration::from_secs(30);
/// How long to wait for a line a child process is expected to print. Only
/// bounds a failing test; nothing is asserted about how long things take.
pub const LINE_WAIT: Duration = Duration::from_secs(20);
/// How long a one-shot command may run before it counts as hung.
pub const COMMAND_WAIT: Duration = Duration::from_secs(60);

/// The demo world's ids.
pub const ALICE: &str = "10001";
pub const BOB: &str = "10002";
pub const MING: &str = "10003";
pub const GROUP: &str = "20001";
pub const BOT: &str = "30001";

/// The `yhconv` binary, with no `YHCONV_*` variable inherited.
pub fn yhconv() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yhconv"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("YHCONV_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// What a finished command printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(args: Vec<String>, out: Output) -> Run {
        Run {
            args,
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts the command succeeded and returns its stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "`yhconv {}` failed:\n{}", self.args.join(" "), self.describe());
        &self.stdout
    }

    /// Asserts the command failed (non-zero exit, nothing on stdout) and
    /// returns its stderr.
    #[track_caller]
    pub fn fails(&self) -> &str {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "`yhconv {}` should have failed:\n{}",
            self.args.join(" "),
            self.describe()
        );
        assert!(self.stdout.is_empty(), "a failed command printed on stdout:\n{}", self.describe());
        &self.stderr
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        let text = self.ok();
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
    }

    fn describe(&self) -> String {
        format!("exit: {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `yhconv ARGS` to completion.
pub fn run(args: &[&str]) -> Run {
    run_with(yhconv(), args)
}

/// Runs a prepared `yhconv` command with ARGS to completion. A command
/// still running after [`COMMAND_WAIT`] is killed and fails the test (a hang
/// is a bug, not a reason to hang the suite).
pub fn run_with(mut cmd: Command, args: &[&str]) -> Run {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running yhconv");
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + COMMAND_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for yhconv") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`yhconv {}` still running after {COMMAND_WAIT:?}: killed", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
    Run::from_output(args.iter().map(|a| a.to_string()).collect(), out)
}

/// A demo login as `serve --demo` prints it.
#[derive(Clone, Debug)]
pub struct Login {
    pub id: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

/// A running `yhconv serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub base_url: String,
    /// What `--demo` printed on stdout (empty without `--demo`).
    pub demo_output: Vec<String>,
    /// The demo logins (empty without `--demo`).
    pub logins: Vec<Login>,
    /// The `sqlite://` URL of the database.
    pub db: String,
    log: PathBuf,
    /// The temporary directory of the database, when the server owns it.
    _dir: Option<TempDir>,
}

impl Server {
    /// `yhconv serve --demo` on a new database of its own.
    pub fn demo() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db_url(dir.path());
        let mut server = Server::start_in(dir.path(), &db, &["--demo"]);
        server._dir = Some(dir);
        server
    }

    /// `yhconv serve --db DB EXTRA...`; its log goes to a file in `log_dir`.
    pub fn start(log_dir: &Path, db: &str, extra: &[&str]) -> Server {
        Server::start_in(log_dir, db, extra)
    }

    fn start_in(log_dir: &Path, db: &str, extra: &[&str]) -> Server {
        // The port is free when looked at; another process could take it
        // before the server binds it, so a failed start is retried.
        let mut last_failure = String::new();
        for attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let log = log_dir.join(format!("serve-{port}-{attempt}.log"));
            match Server::try_start(addr, &log, db, extra) {
                Ok(server) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("yhconv serve did not start:\n{last_failure}");
    }

    fn try_start(addr: SocketAddr, log: &Path, db: &str, extra: &[&str]) -> Result<Server, String> {
        let log_file = std::fs::File::create(log).expect("creating the server log");
        let listen = addr.to_string();
        let mut args = vec!["serve", "--listen", &listen, "--db", db, "--log", "info"];
        args.extend_from_slice(extra);
        let child = yhconv()
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawning yhconv serve");
        let mut server = Server {
            child,
            addr,
            base_url: format!("http://{addr}"),
            demo_output: Vec::new(),
            logins: Vec::new(),
            db: db.to_owned(),
            log: log.to_owned(),
            _dir: None,
        };
        let stdout = server.child.stdout.take().expect("piped stdout");
        let lines = Lines::spawn(stdout);
        let deadline = Instant::now() + STARTUP;
        if extra.contains(&"--demo") {
            // The table ends with the line naming the group and the bot.
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match lines.next_within(left) {
                    Some(line) => {
                        let last = line.starts_with("group ");
                        server.demo_output.push(line);
                        if last {
                            break;
                        }
                    }
                    None => return Err(server.failure("no complete demo login table on stdout")),
                }
            }
            server.logins = parse_demo_logins(&server.demo_output);
        }
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(server.failure(&format!("the server exited: {status}")));
            }
            if healthz(addr) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(server.failure("GET /healthz never answered 200"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn failure(&mut self, what: &str) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        format!("{what}\n--- stdout\n{}\n--- log\n{}", self.demo_output.join("\n"), self.log())
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The demo login of `id`.
    pub fn login(&self, id: &str) -> &Login {
        self.logins.iter().find(|l| l.id == id).unwrap_or_else(|| panic!("no demo login {id}"))
    }

    /// The token the demo printed for `id`.
    pub fn token(&self, id: &str) -> String {
        self.login(id).token.clone()
    }

    /// `yhconv client --base-url URL`, ready for more arguments.
    pub fn client_cmd(&self) -> Command {
        let mut cmd = yhconv();
        cmd.args(["client", "--base-url", &self.base_url]);
        cmd
    }

    /// Runs `yhconv client --base-url URL --token TOKEN ARGS`.
    pub fn client(&self, token: &str, args: &[&str]) -> Run {
        let mut cmd = self.client_cmd();
        cmd.args(["--token", token]);
        run_with(cmd, args)
    }

    /// `list --json` of the token's user.
    #[track_caller]
    pub fn list_json(&self, token: &str) -> Vec<Value> {
        match self.client(token, &["list", "--json"]).json() {
            Value::Array(items) => items,
            other => panic!("list --json is not an array: {other}"),
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill_now(&mut self) {
        self.kill();
    }

    /// Sends SIGTERM and waits (at most `wait`) for the server to exit.
    pub fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("bash").args(["-c", &format!("kill -TERM {pid}")]).status().expect("kill -TERM");
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stops the server (it is killed; SQLite's journal keeps what was
    /// answered).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `sqlite://` URL of `x.db` in `dir`.
pub fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("x.db").display())
}

/// The rows of the demo login table: `ID NAME EMAIL PASSWORD TOKEN`, found by
/// the header, cells separated by blanks (no demo cell has a blank).
pub fn parse_demo_logins(lines: &[String]) -> Vec<Login> {
    let header = lines
        .iter()
        .position(|l| l.split_whitespace().collect::<Vec<_>>() == ["ID", "NAME", "EMAIL", "PASSWORD", "TOKEN"])
        .unwrap_or_else(|| panic!("no login table header in {lines:#?}"));
    lines[header + 1..]
        .iter()
        .take_while(|l| !l.starts_with("group "))
        .map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [id, name, email, password, token] => Login {
                id: id.into(),
                name: name.into(),
                email: email.into(),
                password: password.into(),
                token: token.into(),
            },
            _ => panic!("not a login row: {l:?}"),
        })
        .collect()
}

/// Whether `GET /healthz` answers 200.
pub fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// Lines of a child's output, read on a thread so a test can wait for one
/// with a bound.
pub struct Lines {
    rx: mpsc::Receiver<String>,
}

impl Lines {
    pub fn spawn<R: Read + Send + 'static>(reader: R) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, or `None` at the end of the output or after `wait`.
    pub fn next_within(&self, wait: Duration) -> Option<String> {
        self.rx.recv_timeout(wait).ok()
    }

    /// Reads lines until one satisfies `want` (within [`LINE_WAIT`]);
    /// returns it and the lines before it. Panics, showing what was read,
    /// when none does.
    #[track_caller]
    pub fn until(&self, what: &str, want: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let deadline = Instant::now() + LINE_WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left) {
                Some(line) if want(&line) => return (line, seen),
                Some(line) => seen.push(line),
                None => panic!("never saw {what}; saw {seen:#?}"),
            }
        }
    }
}

/// A long-running `yhconv` child (e.g. `client watch`), killed when dropped.
pub struct Spawned {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Spawned {
    pub fn new(mut cmd: Command) -> Spawned {
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawning yhconv");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        Spawned { child, stdout: Lines::spawn(stdout), stderr: Lines::spawn(stderr) }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The display column (CJK and emoji take two) where each of `headers`
/// starts in a table's header line.
#[track_caller]
pub fn header_columns(header_line: &str, headers: &[&str]) -> Vec<usize> {
    let mut from = 0;
    headers
        .iter()
        .map(|h| {
            let at = from + header_line[from..].find(h).unwrap_or_else(|| panic!("no {h:?} in {header_line:?}"));
            from = at + h.len();
            UnicodeWidthStr::width(&header_line[..at])
        })
        .collect()
}

/// A table line cut at the display columns `starts` into trimmed cells.
/// Panics when a character straddles a column start, or when a non-blank
/// cell does not begin exactly at its column (it starts with a blank, or the
/// text before it runs into it): a misaligned row cannot pass.
#[track_caller]
pub fn cells(line: &str, starts: &[usize]) -> Vec<String> {
    let mut cells = vec![String::new(); starts.len()];
    let mut column = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        let cell = starts.iter().rposition(|&s| s <= column).expect("text before the first column");
        if let Some(&next) = starts.get(cell + 1) {
            assert!(column + w <= next, "{c:?} straddles display column {next} in {line:?}");
        }
        cells[cell].push(c);
        column += w;
    }
    for (i, cell) in cells.iter().enumerate() {
        if cell.trim().is_empty() {
            continue;
        }
        assert!(!cell.starts_with(' '), "cell {i} ({cell:?}) starts after its column in {line:?}");
        if i > 0 {
            let before = &cells[i - 1];
            assert!(before.ends_with(' '), "cell {i} ({cell:?}) starts before its column in {line:?}");
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

/// The entry of `chat_id` in a `list --json` answer.
#[track_caller]
pub fn entry<'a>(list: &'a [Value], chat_id: &str) -> &'a Value {
    list.iter().find(|c| c["chat_id"] == chat_id).unwrap_or_else(|| panic!("{chat_id} not listed: {list:#?}"))
}

/// The chat ids of a `list --json` answer, in order.
pub fn chat_ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|c| c["chat_id"].as_str().expect("chat_id is a string").to_owned()).collect()
}
