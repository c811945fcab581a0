//! Settings read once from the environment at start-up.

use std::time::Duration;

/// How the function answers CloudFormation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The function is the ServiceToken and PUTs each response itself.
    Direct,
    /// The function is the `onEvent` handler of CDK's Provider framework, which does the PUT.
    CdkProvider,
}

/// Everything the handler reads from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    /// Time reserved before the invocation deadline for sending FAILED.
    pub margin: Duration,
    /// Extra ResponseURL hosts (`RESPONSE_URL_ALLOWED_HOSTS`), lowercase.
    pub allowed_hosts: Vec<String>,
}

/// The default deadline margin: enough for one PUT to S3 with a retry.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(3);

impl Settings {
    /// Reads `CUSTOM_RESOURCE_MODE`, `DEADLINE_MARGIN_MS` and `RESPONSE_URL_ALLOWED_HOSTS` through `var`.
    ///
    /// # Errors
    /// A message naming the variable whose value is not accepted.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mode = match var("CUSTOM_RESOURCE_MODE").as_deref().map(str::trim) {
            None | Some("") | Some("direct") => Mode::Direct,
            Some("cdk-provider") => Mode::CdkProvider,
            Some(other) => return Err(format!("CUSTOM_RESOURCE_MODE {other:?} is not direct or cdk-provider")),
        };
        let margin = match var("DEADLINE_MARGIN_MS") {
            None => DEFAULT_MARGIN,
            Some(ms) => {
                Duration::from_millis(ms.trim().parse().map_err(|_| format!("DEADLINE_MARGIN_MS {ms:?} is not a number of milliseconds"))?)
            }
        };
        let allowed_hosts = var("RESPONSE_URL_ALLOWED_HOSTS").unwrap_or_default().split(',').filter_map(host_only).collect();
        Ok(Self { mode, margin, allowed_hosts })
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`Settings::from_vars`].
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

/// A host from an allow-list entry, lowercase: `127.0.0.1:9000` and `[::1]` are taken as `127.0.0.1` and `::1`,
/// since the list names hosts and a port would never match.
fn host_only(entry: &str) -> Option<String> {
    let entry = entry.trim().to_ascii_lowercase();
    let host = match entry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => match entry.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
            _ => entry,
        },
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_vars(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = read(&[]).unwrap();
        assert_eq!((s.mode, s.margin, s.allowed_hosts.len()), (Mode::Direct, DEFAULT_MARGIN, 0));
    }

    #[test]
    fn values_are_read_and_bad_ones_named() {
        let s = read(&[
            ("CUSTOM_RESOURCE_MODE", "cdk-provider"),
            ("DEADLINE_MARGIN_MS", "1500"),
            ("RESPONSE_URL_ALLOWED_HOSTS", " 127.0.0.1 ,Example.COM,"),
        ])
        .unwrap();
        assert_eq!(s.mode, Mode::CdkProvider);
        assert_eq!(s.margin, Duration::from_millis(1500));
        assert_eq!(s.allowed_hosts, vec!["127.0.0.1", "example.com"]);
        assert!(read(&[("CUSTOM_RESOURCE_MODE", "sns")]).unwrap_err().contains("CUSTOM_RESOURCE_MODE"));
        let ports = read(&[("RESPONSE_URL_ALLOWED_HOSTS", "127.0.0.1:9000, [::1]:8443,::1,localhost")]).unwrap();
        assert_eq!(ports.allowed_hosts, vec!["127.0.0.1", "::1", "::1", "localhost"]);
        assert!(read(&[("DEADLINE_MARGIN_MS", "3s")]).unwrap_err().contains("DEADLINE_MARGIN_MS"));
    }
}
