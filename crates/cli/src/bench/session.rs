//! PostgreSQL first: with a PostgreSQL database, the benchmark and the
//! servers it starts run in a session of their own, at a lower priority
//! than the rest of the machine.
//!
//! On one machine the database shares the cores with the load generator
//! and the servers, which a saturating fan-out keeps busy. Linux schedules
//! each session as one group (autogroup), and a group that has hardly run
//! on a core lately weighs little there: a PostgreSQL backend woken on it
//! waited 60 ms for its turn (`perf sched`), and the writes of both
//! instances that needed its locks waited with it. With several instances the database has a machine of its
//! own; the benchmark gives it one as far as it can: its own group, and
//! ours nicer. Between the servers and the load generator nothing changes.

/// Set in the environment of the benchmark run in a session of its own.
const CHILD: &str = "YHCONV_BENCH_OWN_SESSION";
/// The session's nice value (as `/proc/PID/autogroup` takes it).
const NICE: i32 = 10;

/// Whether this run should go on in a session of its own: a PostgreSQL
/// database on this machine, Linux with autogroup on, not already done,
/// not declined.
pub fn wanted(db: Option<&str>, declined: bool) -> bool {
    let local_postgres = db.is_some_and(|db| db.starts_with("postgres") && on_this_machine(db));
    local_postgres && !declined && std::env::var_os(CHILD).is_none() && autogroup_enabled()
}

/// Whether every host of a PostgreSQL URL is this machine (loopback or a
/// Unix socket).
fn on_this_machine(url: &str) -> bool {
    use tokio_postgres::config::Host;
    let Ok(config) = url.parse::<tokio_postgres::Config>() else { return false };
    config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        #[cfg(unix)]
        Host::Unix(_) => true,
    })
}

fn autogroup_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled").is_ok_and(|on| on.trim() == "1")
}

/// Runs this same command again in a session of its own and returns how
/// it ended; Ctrl-C or SIGTERM here stops it and its servers.
#[cfg(unix)]
pub async fn rerun() -> anyhow::Result<()> {
    use anyhow::Context as _;
    use tokio::signal::unix::{signal, SignalKind};

    let exe = std::env::current_exe().context("finding the yhconv executable")?;
    let mut command = tokio::process::Command::new(exe);
    command.args(std::env::args_os().skip(1)).env(CHILD, "1");
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| match libc::setsid() {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        });
    }
    let mut child = command.spawn().context("starting the benchmark in a session of its own")?;
    let mut terminate = signal(SignalKind::terminate())?;
    let status = tokio::select! {
        status = child.wait() => status?,
        _ = tokio::signal::ctrl_c() => stop(&mut child).await?,
        _ = terminate.recv() => stop(&mut child).await?,
    };
    if !status.success() {
        anyhow::bail!("the benchmark stopped ({status})");
    }
    Ok(())
}

/// Interrupts the child's whole process group (it leads it: the servers it
/// started are in it), as a terminal's Ctrl-C would, and waits for it.
#[cfg(unix)]
async fn stop(child: &mut tokio::process::Child) -> std::io::Result<std::process::ExitStatus> {
    if let Some(pid) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) {
        // SAFETY: kill only reads its integer arguments.
        unsafe { libc::kill(-pid, libc::SIGINT) };
    }
    child.wait().await
}

#[cfg(not(unix))]
pub async fn rerun() -> anyhow::Result<()> {
    anyhow::bail!("a session of its own needs Unix")
}

/// In the session of its own: makes it nicer than the rest of the machine.
/// What the report should say about it, or `None` outside such a session.
pub fn lower_priority() -> Option<String> {
    std::env::var_os(CHILD)?;
    Some(match std::fs::write("/proc/self/autogroup", NICE.to_string()) {
        Ok(()) => format!(
            "PostgreSQL got a core first: this benchmark and its servers ran in a session of their own at \
             autogroup nice {NICE}, as with the database on a machine of its own (--db-shares-cores: as equals)"
        ),
        Err(e) => format!(
            "could not make this benchmark's session nicer than PostgreSQL ({e}): they shared the cores as equals"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_postgres_run_that_did_not_decline_goes_on_in_a_session_of_its_own() {
        assert!(!wanted(None, false), "the default database is SQLite");
        assert!(!wanted(Some("sqlite:///tmp/x.db"), false));
        assert!(!wanted(Some("postgres://u@127.0.0.1/db"), true), "--db-shares-cores");
        assert!(!wanted(Some("postgres://u@db.example.com/db"), false), "a database elsewhere");
        assert_eq!(
            wanted(Some("postgres://u@127.0.0.1:5432/db"), false),
            autogroup_enabled() && std::env::var_os(CHILD).is_none()
        );
        assert!(on_this_machine("postgres://u@localhost/db") && on_this_machine("postgres://u@[::1]/db"));
        assert!(on_this_machine("postgresql:///db?host=/run/postgresql"));
        assert!(!on_this_machine("postgres://u@127.0.0.1,db.example.com/db"));
    }
}
