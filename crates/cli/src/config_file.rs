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

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// Every setting a config file may hold; absent ones are `None`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeFile {
    pub listen: Option<String>,
    pub db: Option<String>,
    pub world: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub ws_max_frame_bytes: Option<usize>,
    pub ws_idle_secs: Option<u64>,
    pub ws_queue: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub cors_origin: Option<Vec<String>>,
    pub sqlite_sync: Option<String>,
    pub list_cache_mib: Option<u64>,
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    pub login_rate_limit: Option<u32>,
    pub db_pool_size: Option<usize>,
    pub db_connect_timeout_secs: Option<u64>,
    pub db_startup_wait_secs: Option<u64>,
    pub log: Option<String>,
}

impl ServeFile {
    /// Reads and parses `path`; errors name the file, and the line and key
    /// at fault.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses the text of a config file.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }

    /// A relative `world` path is relative to the file's own directory.
    pub fn resolve_paths(mut self, path: &Path) -> Self {
        if let (Some(world), Some(dir)) = (&self.world, path.parent()) {
            if world.is_relative() {
                self.world = Some(dir.join(world));
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_flags_names() {
        let file = ServeFile::parse(
            "listen = \"0.0.0.0:9000\"\ncors-origin = [\"https://a\", \"https://b\"]\nlist-cache-mib = 0\n",
        )
        .unwrap();
        assert_eq!(file.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(file.cors_origin.unwrap(), ["https://a", "https://b"]);
        assert_eq!(file.list_cache_mib, Some(0));
        assert!(file.db.is_none());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors_that_say_where() {
        let err = ServeFile::parse("listen = \"x\"\nlist-cache = 3\n").unwrap_err().to_string();
        assert!(err.contains("list-cache") && err.contains("line 2"), "{err}");
        let err = ServeFile::parse("rate-limit = \"many\"\n").unwrap_err().to_string();
        assert!(err.contains("rate-limit") || err.contains("line 1"), "{err}");
    }

    #[test]
    fn world_is_relative_to_the_file() {
        let file = ServeFile { world: Some("w.json".into()), ..Default::default() };
        assert_eq!(
            file.resolve_paths(Path::new("/etc/yhconv/yhconv.toml")).world.unwrap(),
            Path::new("/etc/yhconv/w.json")
        );
    }
}
