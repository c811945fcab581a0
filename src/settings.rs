//! Settings read once from the environment at start-up.

use std::time::Duration;

use crate::response_url::AllowedHost;

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
    /// Extra ResponseURL hosts (`RESPONSE_URL_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<AllowedHost>,
    /// The time limit of one AWS call attempt (`AWS_ATTEMPT_TIMEOUT_MS`): a hung connection is retried
    /// instead of using up the invocation.
    pub attempt_timeout: Duration,
    /// How long a target just registered may stay invisible to Describe, tagging, policies and scheduled
    /// actions before that is taken as final (`CONSISTENCY_WINDOW_MS`).
    pub consistency_window: Duration,
    /// The DynamoDB table of the operations journal (`OPERATIONS_TABLE`); `Custom::SageMakerEndpoint` needs it.
    pub operations_table: Option<String>,
    /// How long a queued hand-over holds an operation before the scheduled reconcile may take it up
    /// (`HANDOVER_GRACE_MS`): Lambda starts a queued asynchronous invocation within seconds.
    pub handover_grace: Duration,
}

/// The default deadline margin: enough for one PUT to S3 with a retry.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(3);
/// The default time limit of one AWS call attempt: Application Auto Scaling answers in well under a second.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
/// The default consistency window: Application Auto Scaling documents that a new target may not be visible
/// at once; a minute covers what terraform-provider-aws has seen in practice (it waits up to two for Describe).
pub const DEFAULT_CONSISTENCY_WINDOW: Duration = Duration::from_secs(60);
/// The default grace of a queued hand-over: two minutes, well past the seconds Lambda takes to start it, and
/// well within the reconcile's five.
pub const DEFAULT_HANDOVER_GRACE: Duration = Duration::from_secs(120);

impl Settings {
    /// Reads `CUSTOM_RESOURCE_MODE`, `DEADLINE_MARGIN_MS`, `AWS_ATTEMPT_TIMEOUT_MS`, `CONSISTENCY_WINDOW_MS`,
    /// `OPERATIONS_TABLE`, `HANDOVER_GRACE_MS` and `RESPONSE_URL_ALLOWED_HOSTS`
    /// through `var`.
    ///
    /// # Errors
    /// A message naming the variable whose value is not accepted.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mode = match var("CUSTOM_RESOURCE_MODE").as_deref().map(str::trim) {
            None | Some("") | Some("direct") => Mode::Direct,
            Some("cdk-provider") => Mode::CdkProvider,
            Some(other) => return Err(format!("CUSTOM_RESOURCE_MODE {other:?} is not direct or cdk-provider")),
        };
        let margin = millis(&var, "DEADLINE_MARGIN_MS")?.unwrap_or(DEFAULT_MARGIN);
        let attempt_timeout = millis(&var, "AWS_ATTEMPT_TIMEOUT_MS")?.filter(|d| !d.is_zero()).unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        let consistency_window = millis(&var, "CONSISTENCY_WINDOW_MS")?.unwrap_or(DEFAULT_CONSISTENCY_WINDOW);
        let mut allowed_hosts = Vec::new();
        for entry in var("RESPONSE_URL_ALLOWED_HOSTS").unwrap_or_default().split(',').filter(|e| !e.trim().is_empty()) {
            let host = AllowedHost::parse(entry)
                .ok_or_else(|| format!("RESPONSE_URL_ALLOWED_HOSTS entry {entry:?} is not a host or host:port"))?;
            allowed_hosts.push(host);
        }
        let operations_table = var("OPERATIONS_TABLE").map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let handover_grace = millis(&var, "HANDOVER_GRACE_MS")?.unwrap_or(DEFAULT_HANDOVER_GRACE);
        Ok(Self { mode, margin, allowed_hosts, attempt_timeout, consistency_window, operations_table, handover_grace })
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`Settings::from_vars`].
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

fn millis(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<Duration>, String> {
    var(name)
        .map(|ms| ms.trim().parse().map(Duration::from_millis).map_err(|_| format!("{name} {ms:?} is not a number of milliseconds")))
        .transpose()
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
        assert_eq!(s.attempt_timeout, DEFAULT_ATTEMPT_TIMEOUT);
        assert_eq!(s.consistency_window, DEFAULT_CONSISTENCY_WINDOW);
        assert_eq!((s.operations_table, s.handover_grace), (None, DEFAULT_HANDOVER_GRACE));
        let s = read(&[("OPERATIONS_TABLE", " ops "), ("HANDOVER_GRACE_MS", "2000")]).unwrap();
        assert_eq!((s.operations_table.as_deref(), s.handover_grace), (Some("ops"), Duration::from_secs(2)));
        assert!(read(&[("HANDOVER_GRACE_MS", "soon")]).unwrap_err().contains("HANDOVER_GRACE_MS"));
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
        let hosts: Vec<&str> = s.allowed_hosts.iter().map(|a| a.host.as_str()).collect();
        assert_eq!(hosts, vec!["127.0.0.1", "example.com"]);
        assert!(read(&[("CUSTOM_RESOURCE_MODE", "sns")]).unwrap_err().contains("CUSTOM_RESOURCE_MODE"));
        let ports = read(&[("RESPONSE_URL_ALLOWED_HOSTS", "127.0.0.1:9000, [::1]:8443,::1,localhost")]).unwrap();
        let pairs: Vec<(&str, Option<u16>)> = ports.allowed_hosts.iter().map(|a| (a.host.as_str(), a.port)).collect();
        assert_eq!(pairs, vec![("127.0.0.1", Some(9000)), ("::1", Some(8443)), ("::1", None), ("localhost", None)]);
        assert!(read(&[("RESPONSE_URL_ALLOWED_HOSTS", "a/b")]).unwrap_err().contains("RESPONSE_URL_ALLOWED_HOSTS"));
        assert_eq!(read(&[("AWS_ATTEMPT_TIMEOUT_MS", "1500")]).unwrap().attempt_timeout, Duration::from_millis(1500));
        assert!(read(&[("AWS_ATTEMPT_TIMEOUT_MS", "x")]).unwrap_err().contains("AWS_ATTEMPT_TIMEOUT_MS"));
        assert_eq!(read(&[("CONSISTENCY_WINDOW_MS", "2000")]).unwrap().consistency_window, Duration::from_secs(2));
        assert!(read(&[("CONSISTENCY_WINDOW_MS", "x")]).unwrap_err().contains("CONSISTENCY_WINDOW_MS"));
        assert!(read(&[("DEADLINE_MARGIN_MS", "3s")]).unwrap_err().contains("DEADLINE_MARGIN_MS"));
    }
}
