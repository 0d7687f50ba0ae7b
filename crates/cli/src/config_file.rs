//! The TOML file `yhconv serve --config FILE` reads: the same settings as
//! the flags, under the flags' own names. A setting is taken from, in
//! order: its flag, its `YHCONV_*` variable, this file, its default.
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! db = "sqlite:///var/lib/yhconv/yhconv.db"
//! cors-origin = ["https://chat.example.com"]
//! list-cache-mib = 128
//! ```
//!
//! Nothing here lists the settings: a key is valid when `yhconv serve` has
//! a flag of that name, its value is checked by that flag's own parser, and
//! it becomes that flag's default before the command line is parsed again,
//! so clap itself ranks flag, variable, file and declared default.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Arg, ArgAction, ArgMatches, Command, ValueHint};
use toml::{Spanned, Value};

/// The subcommand that reads a config file, and its flag naming the file.
const SERVE: &str = "serve";
const CONFIG: &str = "config";

/// One setting from the file: the argument it sets and its values.
type FileDefault = (clap::Id, Vec<String>);

/// Parses the process's command line. When it runs `serve` with a config
/// file, the file's settings become the defaults of `serve`'s flags and the
/// line is parsed again. Bad flags exit as clap does; a bad file is an error
/// naming the file, the key and the line.
pub fn get_matches(cli: Command) -> anyhow::Result<ArgMatches> {
    let first = cli.clone().get_matches();
    let Some(path) = first.subcommand_matches(SERVE).and_then(|m| m.get_one::<PathBuf>(CONFIG)).cloned() else {
        return Ok(first);
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading config file {}", path.display()))?;
    let serve = cli.find_subcommand(SERVE).expect("yhconv has a serve command");
    let defaults = file_defaults(serve, &text, path.parent())
        .map_err(|why| anyhow::anyhow!("config file {}: {why}", path.display()))?;
    Ok(cli.mut_subcommand(SERVE, |serve| with_defaults(serve, defaults)).get_matches())
}

/// `cmd` with each file setting as its argument's default.
pub fn with_defaults(mut cmd: Command, defaults: Vec<FileDefault>) -> Command {
    for (id, values) in defaults {
        cmd = cmd.mut_arg(id, |arg| arg.default_values(values));
    }
    cmd
}

/// Reads the text of a config file for `cmd`: each key must be the long
/// name of one of its flags (but not `--config`), each value must parse as
/// that flag's value. A relative path, for a flag taking one, is made
/// relative to `dir`, the file's own directory.
pub fn file_defaults(cmd: &Command, text: &str, dir: Option<&Path>) -> Result<Vec<FileDefault>, String> {
    let table: std::collections::BTreeMap<Spanned<String>, Spanned<Value>> =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let mut defaults = Vec::new();
    for (key, value) in &table {
        let (name, line) = (key.get_ref().as_str(), line_of(key.span().start));
        let fail = |why: String| format!("{name}: {why} (line {line})");
        let arg = cmd
            .get_arguments()
            .find(|arg| arg.get_long() == Some(name) && !matches!(arg.get_id().as_str(), CONFIG | "help"))
            .ok_or_else(|| fail("not a setting of `yhconv serve` (see `yhconv serve --help`)".to_owned()))?;
        let mut values = strings(value.get_ref())
            .ok_or_else(|| fail(format!("a {} is not a setting's value", value.get_ref().type_str())))?;
        if values.len() != 1 && !matches!(arg.get_action(), ArgAction::Append) {
            return Err(fail("takes one value, not a list".to_owned()));
        }
        let takes_path = matches!(arg.get_value_hint(), ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath);
        for value in &mut values {
            if let (true, Some(dir)) = (takes_path && Path::new(value).is_relative(), dir) {
                *value = dir.join(&*value).to_string_lossy().into_owned();
            }
        }
        check(arg, &values).map_err(fail)?;
        defaults.push((arg.get_id().clone(), values));
    }
    Ok(defaults)
}

/// Parses `values` as `arg`'s own parser does (a bad default would only be
/// caught by clap's debug assertions, as a panic).
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    if !arg.get_action().takes_values() {
        return values.iter().try_for_each(|v| v.parse::<bool>().map(drop).map_err(|e| e.to_string()));
    }
    let long = arg.get_long().expect("a config file sets only --flags");
    let alone = Command::new("check").no_binary_name(true).arg(arg.clone().env(None).default_value(None));
    alone.try_get_matches_from(values.iter().map(|v| format!("--{long}={v}"))).map(drop).map_err(|e| reason(&e))
}

/// A TOML value as the strings clap would read on a command line.
fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Integer(n) => Some(vec![n.to_string()]),
        Value::Boolean(b) => Some(vec![b.to_string()]),
        Value::Array(items) => {
            items.iter().map(|v| strings(v).filter(|s| s.len() == 1).map(|mut s| s.remove(0))).collect()
        }
        _ => None,
    }
}

/// Why clap refused a value, without its usage text (and without the value,
/// which may be a password).
fn reason(e: &clap::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => source.to_string(),
        // A message clap did not wrap (e.g. `DbUrlParser`'s), as it renders.
        None => e.to_string().trim_start_matches("error: ").lines().next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;
    use crate::serve::ServeArgs;

    fn serve() -> Command {
        ServeArgs::augment_args(Command::new(SERVE)).mut_args(|arg| arg.env(None))
    }

    /// `serve ARGS` with `text` as its config file in `/etc/yhconv`.
    fn parse(cmd: Command, text: &str, args: &[&str]) -> Result<ServeArgs, String> {
        let defaults = file_defaults(&cmd, text, Some(Path::new("/etc/yhconv")))?;
        let matches = with_defaults(cmd, defaults).try_get_matches_from([SERVE].iter().chain(args)).unwrap();
        Ok(ServeArgs::from_arg_matches(&matches).unwrap())
    }

    #[test]
    fn reads_the_flags_names() {
        let text = "listen = \"0.0.0.0:9000\"\ncors-origin = [\"https://a\", \"https://b\"]\nlist-cache-mib = 0\n";
        let args = parse(serve(), text, &[]).unwrap();
        assert_eq!(args.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(args.server.cors_origin, ["https://a", "https://b"]);
        assert_eq!(args.server.list_cache_mib, 0);
        assert_eq!(args.server.db, yhconv_server::Config::default().db);
    }

    #[test]
    fn a_flag_beats_its_variable_which_beats_the_file_which_beats_the_default() {
        // A variable no one else sets stands in for YHCONV_LOGIN_RATE_LIMIT.
        std::env::set_var("YHCONV_TEST_CONFIG_FILE_LOGIN_RATE", "90");
        let cmd = serve().mut_arg("login_rate_limit", |a| a.env("YHCONV_TEST_CONFIG_FILE_LOGIN_RATE"));
        let text = "rate-limit = 7\nrate-burst = 8\nlogin-rate-limit = 9\n";
        let args = parse(cmd, text, &["--rate-burst", "80"]).unwrap();
        let server = &args.server;
        assert_eq!((server.rate_limit, server.rate_burst, server.login_rate_limit), (7, 80, 90));
        assert_eq!(server.list_cache_mib, yhconv_server::Config::default().list_cache_mib);
    }

    #[test]
    fn mistakes_are_errors_that_say_where() {
        let err = |text: &str| parse(serve(), text, &[]).err().unwrap_or_else(|| panic!("accepted {text:?}"));
        let e = err("listen = \"127.0.0.1:0\"\nlist-cache = 3\n");
        assert!(e.starts_with("list-cache: not a setting") && e.contains("line 2"), "{e}");
        let e = err("rate-limit = \"many\"\n");
        assert!(e.starts_with("rate-limit: invalid digit") && e.ends_with("(line 1)"), "{e}");
        let e = err("\n\nlisten = \"everywhere\"\n");
        assert_eq!(e, "listen: invalid socket address syntax (line 3)");
        let e = err("db = \"mysql://u:s3cretpw@h\"\n");
        assert!(e.starts_with("db: ") && e.contains("unsupported database URL") && !e.contains("s3cretpw"), "{e}");
        assert!(err("listen = [\"a:1\", \"b:2\"]\n").contains("takes one value"));
        assert!(err("listen = { port = 1 }\n").contains("a table is not"));
        assert!(err("[server]\nlisten = \"a:1\"\n").starts_with("server: not a setting"));
        assert!(err("demo = \"yes\"\n").starts_with("demo: provided string was not"));
        assert!(err("config = \"other.toml\"\n").contains("not a setting"));
        assert!(err("listen = \n").contains("line 1"));
    }

    #[test]
    fn world_is_relative_to_the_file() {
        let args = parse(serve(), "world = \"w.json\"\n", &[]).unwrap();
        assert_eq!(args.world.unwrap(), Path::new("/etc/yhconv/w.json"));
        let args = parse(serve(), "world = \"/srv/w.json\"\n", &[]).unwrap();
        assert_eq!(args.world.unwrap(), Path::new("/srv/w.json"));
    }
}
