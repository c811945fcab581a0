//! The ResponseURL rule: which hosts may ever receive a byte from this function. Pure, so every accepted
//! and refused form is one line of a table test.
//!
//! CloudFormation's presigned ResponseURLs always point at Amazon S3. Everything else under the AWS
//! partition domains (API Gateway, load balancers, EC2 public names, S3 website and access-point hosts) is
//! owned by customers, so a forged event could aim the function at an attacker's endpoint: refused.

use std::net::IpAddr;

use reqwest::StatusCode;
use reqwest::Url;
use url::Host;

/// The DNS suffixes of the AWS partitions (aws and aws-us-gov share the first; aws-eusc is `amazonaws.eu`).
const PARTITION_DOMAINS: [&str; 7] =
    ["amazonaws.com", "amazonaws.com.cn", "amazonaws.eu", "c2s.ic.gov", "sc2s.sgov.gov", "cloud.adc-e.uk", "csp.hci.ic.gov"];
/// A redirect chain longer than this is not followed.
pub const MAX_REDIRECTS: usize = 3;

/// One `RESPONSE_URL_ALLOWED_HOSTS` entry: a host, and the only port it may be reached on, if one was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Normalised as a URL's host is (lowercase; IP addresses in canonical form, IPv6 without brackets).
    pub host: String,
    pub port: Option<u16>,
}

impl AllowedHost {
    /// Reads one entry: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address. `None` for an empty
    /// or unreadable entry.
    pub fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if entry.is_empty() {
            return None;
        }
        // A bare IPv6 address (two colons or more) has no port; bracket it so the URL parser reads it.
        let authority = if entry.matches(':').count() > 1 && !entry.starts_with('[') { format!("[{entry}]") } else { entry.to_owned() };
        let url = Url::parse(&format!("http://{authority}/")).ok()?;
        if url.path() != "/" || !url.username().is_empty() || url.query().is_some() {
            return None;
        }
        Some(Self { host: host_text(&url)?, port: url.port() })
    }
}

/// Why a URL may not be contacted. Its text never contains the query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ResponseURL {shown} is refused: {why}")]
pub struct Refused {
    /// The URL without its query, or a placeholder when it does not parse.
    pub shown: String,
    pub why: String,
}

/// Checks a ResponseURL (or a redirect's `Location`) against the contract's rule: https to an Amazon S3 host
/// of an AWS partition on port 443, or a host of `allowed` (on its port, if the entry names one); plain http
/// only to an allowed loopback host.
///
/// # Errors
/// [`Refused`], saying why, without the query string.
pub fn check(text: &str, allowed: &[AllowedHost]) -> Result<Url, Refused> {
    let url = Url::parse(text).map_err(|err| Refused { shown: "(unparsable)".into(), why: format!("it is not a URL ({err})") })?;
    let refuse = |why: &str| Refused { shown: redact(&url), why: why.to_owned() };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it carries user information"));
    }
    let Some(host) = host_text(&url) else { return Err(refuse("it has no host")) };
    let port = url.port_or_known_default();
    let listed = allowed.iter().any(|a| a.host == host && a.port.is_none_or(|p| Some(p) == port));
    match url.scheme() {
        "https" if listed => Ok(url),
        "https" if port == Some(443) && is_s3_host(&url) => Ok(url),
        "https" if is_s3_host(&url) => Err(refuse("Amazon S3 is reached on port 443 only")),
        "https" => Err(refuse("only Amazon S3 hosts of an AWS partition, or hosts in RESPONSE_URL_ALLOWED_HOSTS, are contacted")),
        "http" if listed && is_loopback(&url) => Ok(url),
        "http" => Err(refuse("plain http is allowed only for loopback hosts listed in RESPONSE_URL_ALLOWED_HOSTS")),
        _ => Err(refuse("only https is contacted")),
    }
}

/// The host as the allow-list compares it: the parsed form, IPv6 without brackets.
fn host_text(url: &Url) -> Option<String> {
    Some(match url.host()? {
        Host::Domain(d) => d.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    })
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        None => false,
    }
}

/// `[<bucket>.]<s3 endpoint>.<partition domain>`, with the S3 endpoint one of `s3`, `s3-<region>`,
/// `s3-external-1`, `s3.<region>`, `s3-fips.<region>`, `s3.dualstack.<region>`, `s3-fips.dualstack.<region>`.
fn is_s3_host(url: &Url) -> bool {
    let Some(Host::Domain(host)) = url.host() else { return false };
    let Some(rest) = PARTITION_DOMAINS.iter().find_map(|d| host.strip_suffix(d)?.strip_suffix('.')) else { return false };
    let labels: Vec<&str> = rest.split('.').collect();
    (1..=3.min(labels.len())).any(|k| {
        let (bucket, endpoint) = labels.split_at(labels.len() - k);
        is_s3_endpoint(endpoint) && bucket.iter().all(|l| is_dns_label(l))
    })
}

fn is_s3_endpoint(labels: &[&str]) -> bool {
    match labels {
        ["s3" | "s3-external-1"] => true,
        [one] => one.strip_prefix("s3-").is_some_and(is_region),
        ["s3" | "s3-fips", region] => is_region(region),
        ["s3" | "s3-fips", "dualstack", region] => is_region(region),
        _ => false,
    }
}

/// A region name: an area of two to four letters, one or more words, a number (`us-east-1`, `us-gov-west-1`,
/// `cn-north-1`, `eusc-de-east-1`).
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [area, words @ .., number] = parts.as_slice() else { return false };
    (2..=4).contains(&area.len())
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A URL safe to log: scheme, host, port and path; never the query string, which holds the signature.
pub fn redact(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let host = match url.host() {
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        _ => url.host_str().unwrap_or_default().to_owned(),
    };
    format!("{}://{host}{port}{}", url.scheme(), url.path())
}

/// Whether a redirect is followed: only 307 and 308 (they keep the method and body), to a `Location` that
/// passes [`check`], at most [`MAX_REDIRECTS`] times. `hops` counts the redirects already followed.
///
/// # Errors
/// Why the redirect is not followed, for the log.
pub fn follow_redirect(status: StatusCode, location: Option<&str>, hops: usize, allowed: &[AllowedHost]) -> Result<(), String> {
    if !matches!(status.as_u16(), 307 | 308) {
        return Err(format!("HTTP {} redirect not followed: only 307 and 308 keep the PUT and its body", status.as_u16()));
    }
    if hops >= MAX_REDIRECTS {
        return Err(format!("HTTP {} redirect not followed: more than {MAX_REDIRECTS} redirects", status.as_u16()));
    }
    let Some(location) = location else { return Err(format!("HTTP {} redirect without a Location", status.as_u16())) };
    check(location, allowed).map(drop).map_err(|refused| format!("HTTP {} redirect not followed: Location {refused}", status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> Vec<AllowedHost> {
        entries.iter().filter_map(|e| AllowedHost::parse(e)).collect()
    }

    #[test]
    fn s3_hosts_of_every_partition_and_form_are_accepted() {
        for url in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=abc",
            "https://cloudformation-custom-resource-response-useast2.s3.us-east-2.amazonaws.com/x?sig=1",
            "https://s3.amazonaws.com/bucket/key",
            "https://s3.us-gov-west-1.amazonaws.com/bucket/key",
            "https://bucket.s3-us-west-2.amazonaws.com/key",
            "https://s3-external-1.amazonaws.com/bucket/key",
            "https://bucket.s3-fips.us-east-1.amazonaws.com/key",
            "https://bucket.s3.dualstack.eu-west-1.amazonaws.com/key",
            "https://bucket.s3-fips.dualstack.us-gov-east-1.amazonaws.com/key",
            "https://my.dotted.bucket.s3.amazonaws.com/key",
            "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x?sig=1",
            "https://b.s3.us-iso-east-1.c2s.ic.gov/k",
            "https://b.s3.us-isob-east-1.sc2s.sgov.gov/k",
            "https://b.s3.eu-isoe-west-1.cloud.adc-e.uk/k",
            "https://b.s3.us-isof-south-1.csp.hci.ic.gov/k",
            "https://cloudformation-custom-resource-response-euscdeeast1.s3.eusc-de-east-1.amazonaws.eu/x?sig=1",
            "https://b.s3-fips.dualstack.eusc-de-east-1.amazonaws.eu/k",
            "HTTPS://Bucket.S3.AMAZONAWS.COM/Key",
            "https://bucket.s3.amazonaws.com:443/key",
            // The URL parser decodes a percent-encoded host; the decoded host is what is checked and contacted.
            "https://bucket.s3%2Eamazonaws.com/key",
        ] {
            assert!(check(url, &[]).is_ok(), "{url}: {:?}", check(url, &[]));
        }
    }

    #[test]
    fn everything_else_is_refused_and_never_shows_the_query() {
        for url in [
            "http://bucket.s3.amazonaws.com/x?X-Amz-Signature=secret",
            "https://evil.example.com/x?X-Amz-Signature=secret",
            "https://s3.amazonaws.com.evil.example/x?X-Amz-Signature=secret",
            "https://amazonaws.com/x?X-Amz-Signature=secret",
            "https://s3.amazonaws.com@evil.example/x?X-Amz-Signature=secret",
            "https://evil.example@s3.amazonaws.com/x?X-Amz-Signature=secret",
            "https://user:pw@bucket.s3.amazonaws.com/x?X-Amz-Signature=secret",
            "https://bucket.s3.amazonaws.com./x?X-Amz-Signature=secret",
            "https://bucket.s3.amazonaws.com:8443/x?X-Amz-Signature=secret",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod?X-Amz-Signature=secret",
            "https://abc123.execute-api.eusc-de-east-1.amazonaws.eu/prod?X-Amz-Signature=secret",
            "https://bucket.s3-website.eusc-de-east-1.amazonaws.eu/x?X-Amz-Signature=secret",
            "https://bucket.s3.useast-de-east-1.amazonaws.eu/x?X-Amz-Signature=secret",
            "https://my-alb-1234.us-east-1.elb.amazonaws.com/x?X-Amz-Signature=secret",
            "https://ec2-203-0-113-5.compute-1.amazonaws.com/x?X-Amz-Signature=secret",
            "https://abc.lambda-url.us-east-1.on.aws/x?X-Amz-Signature=secret",
            "https://bucket.s3-website-us-east-1.amazonaws.com/x?X-Amz-Signature=secret",
            "https://bucket.s3-website.us-east-1.amazonaws.com/x?X-Amz-Signature=secret",
            "https://ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com/x?X-Amz-Signature=secret",
            "https://ap-123456789012.s3-accesspoint.dualstack.us-east-1.amazonaws.com/x?X-Amz-Signature=secret",
            "https://evil-s3.amazonaws.com/x?X-Amz-Signature=secret",
            "https://s3.evil.amazonaws.com/x?X-Amz-Signature=secret",
            "https://bucket.s3.us-east-1.evil.amazonaws.com/x?X-Amz-Signature=secret",
            "https://%65vil.example/x?X-Amz-Signature=secret",
            "https://s3.amazonaws.com%2Eevil.example/x?X-Amz-Signature=secret",
            "https://52.216.0.1/x?X-Amz-Signature=secret",
            "https://0x7f.1/x?X-Amz-Signature=secret",
            "https://2130706433/x?X-Amz-Signature=secret",
            "https://[::1]/x?X-Amz-Signature=secret",
            "https://[::ffff:127.0.0.1]/x?X-Amz-Signature=secret",
            "http://127.0.0.1:9000/x?X-Amz-Signature=secret",
            "file:///etc/passwd?X-Amz-Signature=secret",
            "ftp://bucket.s3.amazonaws.com/x?X-Amz-Signature=secret",
        ] {
            let err = check(url, &[]).expect_err(url).to_string();
            assert!(!err.contains("secret"), "{err}");
            assert!(err.starts_with("ResponseURL "), "{err}");
        }
        assert!(check("not a url", &[]).is_err());
    }

    #[test]
    fn allowed_hosts_add_https_and_loopback_http_on_their_port() {
        let list = allowed(&["127.0.0.1:9000", "hooks.example.com", "[::1]:9001", "localhost"]);
        assert!(check("http://127.0.0.1:9000/x", &list).is_ok());
        assert!(check("http://127.0.0.1:9001/x", &list).is_err(), "an entry with a port allows that port only");
        assert!(check("http://2130706433:9000/x", &list).is_ok(), "the numeric form of a listed address is that address");
        assert!(check("https://hooks.example.com/x", &list).is_ok());
        assert!(check("https://hooks.example.com:8443/x", &list).is_ok(), "an entry without a port allows any port");
        assert!(check("https://HOOKS.example.com/x", &list).is_ok());
        assert!(check("http://hooks.example.com/x", &list).is_err(), "http only for loopback");
        assert!(check("http://127.0.0.2:9000/x", &list).is_err(), "only listed hosts");
        assert!(check("http://[::1]:9001/x", &list).is_ok(), "IPv6 loopback");
        assert!(check("http://[::1]:9000/x", &list).is_err());
        assert!(check("http://[::ffff:127.0.0.1]:9000/x", &list).is_err(), "a mapped address is not the listed one");
        assert!(check("http://localhost:1234/x", &list).is_ok());
        let mapped = allowed(&["::ffff:127.0.0.1"]);
        assert!(check("http://[::ffff:7f00:1]:80/x", &mapped).is_ok(), "IPv4-mapped loopback is loopback");
        let public = allowed(&["203.0.113.7"]);
        assert!(check("http://203.0.113.7/x", &public).is_err(), "http never leaves the machine");
        assert!(check("https://203.0.113.7/x", &public).is_ok());
    }

    #[test]
    fn allow_list_entries_are_read_like_url_hosts() {
        let one = |e: &str| AllowedHost::parse(e).map(|a| (a.host, a.port));
        assert_eq!(one(" 127.0.0.1:9000 "), Some(("127.0.0.1".into(), Some(9000))));
        assert_eq!(one("[::1]:8443"), Some(("::1".into(), Some(8443))));
        assert_eq!(one("::1"), Some(("::1".into(), None)));
        assert_eq!(one("Example.COM"), Some(("example.com".into(), None)));
        assert_eq!(one(""), None);
        assert_eq!(one("a/b"), None);
        assert_eq!(one("u@h"), None);
    }

    #[test]
    fn regions() {
        for ok in ["us-east-1", "us-gov-west-1", "cn-northwest-1", "us-isob-east-1", "ap-southeast-4"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in ["website-us-east-1", "us-east", "us-east-x", "accesspoint", "us--1", "US-EAST-1", "u-east-1"] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn redaction_keeps_the_path_and_drops_the_query() {
        let url = Url::parse("https://h.s3.amazonaws.com:8443/a/b?X-Amz-Signature=secret").unwrap();
        assert_eq!(redact(&url), "https://h.s3.amazonaws.com:8443/a/b");
        assert_eq!(redact(&Url::parse("http://[::1]:9/p?q=1").unwrap()), "http://[::1]:9/p");
    }

    #[test]
    fn only_307_and_308_to_an_accepted_location_are_followed_three_times() {
        let s3 = "https://b.s3.amazonaws.com/k?X-Amz-Signature=secret";
        for code in [307, 308] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(follow_redirect(status, Some(s3), 0, &[]), Ok(()));
            assert_eq!(follow_redirect(status, Some(s3), 2, &[]), Ok(()));
            assert!(follow_redirect(status, Some(s3), 3, &[]).unwrap_err().contains("more than 3"));
            let refused = follow_redirect(status, Some("https://evil.example/x?X-Amz-Signature=secret"), 0, &[]).unwrap_err();
            assert!(refused.contains("evil.example") && !refused.contains("secret"), "{refused}");
            assert!(follow_redirect(status, None, 0, &[]).is_err());
        }
        for code in [300, 301, 302, 303, 304, 305] {
            let err = follow_redirect(StatusCode::from_u16(code).unwrap(), Some(s3), 0, &[]).unwrap_err();
            assert!(err.starts_with(&format!("HTTP {code} ")), "{err}");
        }
    }
}
