//! Real work: the requests `http` tasks and callbacks send, and what their
//! answers mean. The shells do the I/O (the Spin component with outbound
//! HTTP, the playground against a scripted destination); everything they
//! decide lives here, so both decide alike.
//!
//! - [`Destinations`]: the permitted destination pattern, in Spin's
//!   `allowed_outbound_hosts` syntax, and the check of a URL against it.
//! - [`TargetUrl::parse`]: the URL rules of the contract.
//! - [`task_request`] and [`callback_request`]: method, URL, headers (the
//!   Standard Webhooks ones, signed when a secret is set) and body.
//! - [`classify`]: an answer (or a transport failure) as a
//!   [`WorkOutcome`]: success, retryable (with `Retry-After`), or final.

use std::net::Ipv4Addr;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::callback::Delivery;
use crate::id::TaskId;
use crate::spec::{HttpMethod, HttpRequestSpec};
use crate::task::{Retry, WorkOutcome};
use crate::time::Millis;

/// What every request sends as `user-agent` unless the task sets its own.
pub const USER_AGENT: &str = concat!("bgtasks/", env!("CARGO_PKG_VERSION"));
/// The longest URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// How much of an answer's body a result keeps.
pub const MAX_RESPONSE_BODY: usize = 4096;
/// `Retry-After` waits are capped at one hour.
pub const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

// ---------------------------------------------------------------------------
// URLs

/// The host of a URL the service will call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, lowercase ASCII.
    Name(String),
    Ipv4(Ipv4Addr),
}

/// A URL that passed the contract's rules: absolute `http` or `https`, a
/// host, no `user:password@`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetUrl {
    pub https: bool,
    pub host: Host,
    /// The port, when the URL names one other than its scheme's default.
    pub port: Option<u16>,
}

impl TargetUrl {
    /// Checks `text` against the contract's URL rules (not its length,
    /// which the caller checks in characters). The reason is a short
    /// sentence for a 422.
    ///
    /// Hosts are ASCII names or dotted IPv4 addresses; IPv6 literals and
    /// internationalized names are refused, so that the check here and
    /// Spin's own (by the `url` crate) cannot read a host differently.
    pub fn parse(text: &str) -> Result<TargetUrl, UrlError> {
        let uri: http::Uri = text
            .parse()
            .map_err(|_| UrlError::Invalid("it is not a valid absolute URL"))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(UrlError::Scheme),
            None => return Err(UrlError::Invalid("it is not an absolute URL")),
        };
        let authority = uri.authority().ok_or(UrlError::Invalid("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Invalid(
                "it must not hold a user name or password",
            ));
        }
        if authority.as_str().starts_with('[') {
            return Err(UrlError::Invalid("IPv6 addresses are not supported"));
        }
        // The `http` crate reads a port it cannot parse as no port: take the
        // text after the colon ourselves.
        let (host, port) = match authority.as_str().rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority.as_str(), None),
        };
        let host = parse_host(host)?;
        let default = if https { 443 } else { 80 };
        let port = match port {
            None | Some("") => None,
            // Digits only: `parse` would take a sign.
            Some(port) if !port.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(UrlError::Invalid("its port is not a number up to 65535"));
            }
            Some(port) => match port.parse::<u16>() {
                Ok(p) if p == default => None,
                Ok(p) => Some(p),
                Err(_) => return Err(UrlError::Invalid("its port is not a number up to 65535")),
            },
        };
        Ok(TargetUrl { https, host, port })
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }
}

/// Why a URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    Invalid(&'static str),
    /// A scheme other than `http` or `https`.
    Scheme,
}

fn parse_host(host: &str) -> Result<Host, UrlError> {
    let invalid = UrlError::Invalid(
        "its host must be a name of letters, digits, hyphens and dots, or an IPv4 address",
    );
    // One trailing dot (a fully qualified name) is allowed; no other empty
    // label is.
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || name.split('.').any(str::is_empty)
    {
        return Err(invalid);
    }
    // URL parsers read a name whose last label is a number (decimal, or
    // 0x-hex) as an IPv4 address: accept only four dotted decimals.
    let last = name.rsplit('.').next().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .or_else(|| last.strip_prefix("0X"))
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        if name.len() != host.len() {
            return Err(invalid);
        }
        return name
            .parse::<Ipv4Addr>()
            .map(Host::Ipv4)
            .map_err(|_| invalid);
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

// ---------------------------------------------------------------------------
// Destinations

/// The permitted destinations: one pattern in Spin's
/// `allowed_outbound_hosts` syntax (`https://*.example.com`,
/// `http://127.0.0.1:*`, `*://*:*`), or none at all.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Destinations {
    pattern: Option<Pattern>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    original: String,
    /// `None`: any scheme.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: names ending in `.example.com` (not the name itself).
    Subdomains(String),
    Name(String),
    Ipv4(Ipv4Addr),
    Cidr(Ipv4Addr, u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PortPattern {
    Any,
    One(u16),
    /// `a..b`: from `a` up to, not including, `b`.
    Range(u16, u16),
}

impl Destinations {
    /// No destination is permitted.
    pub fn none() -> Destinations {
        Destinations::default()
    }

    /// Parses the `http_destinations` variable: empty (none), or one
    /// pattern. An invalid pattern is an error that names the problem.
    pub fn parse(text: &str) -> Result<Destinations, String> {
        let text = text.trim();
        // Spin resolves an empty template (and a bare scheme) to no host.
        if text.is_empty() || text == "http://" || text == "https://" {
            return Ok(Destinations::none());
        }
        let fail = |why: &str| format!("http_destinations {text:?}: {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| fail("expected <scheme>://<host>[:<port>]"))?;
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(char::is_alphabetic) => Some(s.to_owned()),
            _ => return Err(fail("the scheme must be letters or '*'")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (rest, ""),
        };
        let host = parse_host_pattern(host).map_err(fail)?;
        let port = match port {
            "" => match scheme.as_deref() {
                Some("http") => PortPattern::One(80),
                Some("https") => PortPattern::One(443),
                _ => return Err(fail("no port given, and the scheme has no default port")),
            },
            "*" => PortPattern::Any,
            p => match p.split_once("..") {
                Some((a, b)) => match (a.parse(), b.parse()) {
                    (Ok(a), Ok(b)) => PortPattern::Range(a, b),
                    _ => return Err(fail("the port range is not numbers")),
                },
                None => PortPattern::One(p.parse().map_err(|_| fail("the port is not a number"))?),
            },
        };
        Ok(Destinations {
            pattern: Some(Pattern {
                original: text.to_owned(),
                scheme,
                host,
                port,
            }),
        })
    }

    /// The pattern as configured, if any.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_ref().map(|p| p.original.as_str())
    }

    /// Whether a request to `url` is permitted.
    pub fn allows(&self, url: &TargetUrl) -> bool {
        let Some(p) = &self.pattern else {
            return false;
        };
        let scheme = p.scheme.as_deref().is_none_or(|s| s == url.scheme());
        let host = match (&p.host, &url.host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomains(suffix), Host::Name(name)) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            (HostPattern::Name(n), Host::Name(name)) => n == name,
            (HostPattern::Ipv4(a), Host::Ipv4(ip)) => a == ip,
            (HostPattern::Cidr(net, bits), Host::Ipv4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(*ip) & mask
            }
            _ => false,
        };
        let port = url.port_or_default();
        let port = match p.port {
            PortPattern::Any => true,
            PortPattern::One(n) => n == port,
            PortPattern::Range(a, b) => (a..b).contains(&port),
        };
        scheme && host && port
    }
}

fn parse_host_pattern(host: &str) -> Result<HostPattern, &'static str> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some((net, bits)) = host.split_once('/') {
        let net: Ipv4Addr = net
            .parse()
            .map_err(|_| "the host is not a valid CIDR range")?;
        let bits: u8 = bits
            .parse()
            .map_err(|_| "the host is not a valid CIDR range")?;
        if bits > 32 {
            return Err("the host is not a valid CIDR range");
        }
        return Ok(HostPattern::Cidr(net, bits));
    }
    if let Some(domain) = host.strip_prefix("*.") {
        return match parse_host(domain) {
            Ok(Host::Name(name)) if !domain.contains('*') => Ok(HostPattern::Subdomains(name)),
            _ => Err("a wildcard must be followed by a domain name"),
        };
    }
    if host.contains('*') {
        return Err("wildcards are allowed only as a whole host or a subdomain prefix");
    }
    match parse_host(host) {
        Ok(Host::Name(name)) => Ok(HostPattern::Name(name)),
        Ok(Host::Ipv4(ip)) => Ok(HostPattern::Ipv4(ip)),
        Err(_) => Err("the host is not a name or an IPv4 address"),
    }
}

// ---------------------------------------------------------------------------
// Requests

/// One request to send: what the shell puts on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: HttpMethod,
    pub url: String,
    /// Names lowercase, except those the task gave, which are sent as given.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundRequest {
    /// The value of header `name` (case-insensitive), as sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The signing key of `webhook_secret` (`whsec_<base64>`, as Standard
/// Webhooks writes it).
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Parses a `whsec_<base64>` secret; `None` for an empty one.
    pub fn parse(text: &str) -> Result<Option<Secret>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        match base64::engine::general_purpose::STANDARD.decode(encoded) {
            // Standard Webhooks keys are 24 to 64 bytes; a short one is as
            // good as none.
            Ok(key) if key.len() >= 16 => Ok(Some(Secret(key))),
            Ok(_) => Err("webhook_secret is too short: at least 16 bytes of key".to_owned()),
            Err(_) => Err("webhook_secret is not a whsec_<base64> key".to_owned()),
        }
    }

    /// `v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let signature = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(signature)
        )
    }
}

/// Whether a `content-type` names JSON (`application/json` or
/// `application/<name>+json`).
fn is_json_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .and_then(|s| s.strip_suffix("+json"))
            .is_some_and(|name| !name.is_empty())
}

/// The request attempt `attempt` of an `http` task sends at `now`.
pub fn task_request(
    spec: &HttpRequestSpec,
    id: TaskId,
    attempt: u32,
    now: Millis,
    secret: Option<&Secret>,
) -> OutboundRequest {
    let given = |name: &str| {
        spec.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let body = match &spec.body {
        None => Vec::new(),
        // A string under a content-type that is not JSON goes as is.
        Some(Value::String(text))
            if given("content-type").is_some_and(|(_, v)| !is_json_type(v)) =>
        {
            text.clone().into_bytes()
        }
        Some(value) => value.to_string().into_bytes(),
    };
    let mut headers = Vec::new();
    if given("user-agent").is_none() {
        headers.push(("user-agent".to_owned(), USER_AGENT.to_owned()));
    }
    if spec.body.is_some() && given("content-type").is_none() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    headers.extend(spec.headers.iter().cloned());
    let id = id.to_string();
    sign_into(&mut headers, &id, attempt, now, &body, secret);
    OutboundRequest {
        method: spec.method,
        url: spec.url.clone(),
        headers,
        body,
    }
}

/// The callback delivery attempt `attempt` sends to `url` at `now`.
pub fn callback_request(
    url: &str,
    delivery: &Delivery,
    attempt: u32,
    now: Millis,
    secret: Option<&Secret>,
) -> OutboundRequest {
    let body = delivery.payload.clone().into_bytes();
    let mut headers = vec![
        ("user-agent".to_owned(), USER_AGENT.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "bgtasks-event".to_owned(),
            delivery.event.as_str().to_owned(),
        ),
    ];
    sign_into(
        &mut headers,
        &delivery.webhook_id,
        attempt,
        now,
        &body,
        secret,
    );
    OutboundRequest {
        method: HttpMethod::Post,
        url: url.to_owned(),
        headers,
        body,
    }
}

fn sign_into(
    headers: &mut Vec<(String, String)>,
    webhook_id: &str,
    attempt: u32,
    now: Millis,
    body: &[u8],
    secret: Option<&Secret>,
) {
    let timestamp = now.0 / 1000;
    headers.push(("bgtasks-attempt".to_owned(), attempt.to_string()));
    headers.push(("webhook-id".to_owned(), webhook_id.to_owned()));
    headers.push(("webhook-timestamp".to_owned(), timestamp.to_string()));
    if let Some(secret) = secret {
        headers.push((
            "webhook-signature".to_owned(),
            secret.sign(webhook_id, timestamp, body),
        ));
    }
}

// ---------------------------------------------------------------------------
// Answers

/// How a request ended, as the shell saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// An answer arrived (its body read up to [`MAX_RESPONSE_BODY`]).
    Response {
        status: u16,
        retry_after: Option<&'a str>,
        body: &'a [u8],
        duration_ms: u64,
    },
    /// The whole attempt took longer than its timeout.
    TimedOut,
    /// The destination refused the connection.
    Refused,
    /// The runtime refused the destination (not in `allowed_outbound_hosts`).
    NotAllowed,
    /// Another transport failure, in a short lowercase description.
    Transport(String),
}

/// What an answer means for the attempt that got it, at `now`. `url` is the
/// URL as submitted (error messages quote it).
pub fn classify(url: &str, timeout_ms: u64, answer: Answer<'_>, now: Millis) -> WorkOutcome {
    let failure = |error: String, status_code, retry| WorkOutcome::Failure {
        error,
        status_code,
        retry,
    };
    match answer {
        Answer::Response {
            status,
            retry_after,
            body,
            duration_ms,
        } => {
            if (200..300).contains(&status) {
                let kept = &body[..body.len().min(MAX_RESPONSE_BODY)];
                return WorkOutcome::Delivered {
                    status_code: status,
                    result: json!({
                        "message": "Delivered",
                        "status_code": status,
                        "response_body": String::from_utf8_lossy(kept),
                        "duration_ms": duration_ms,
                    }),
                };
            }
            let retryable = matches!(status, 408 | 425 | 429 | 500..=599);
            let retry = if !retryable {
                Retry::Never
            } else if let (429 | 503, Some(value)) = (status, retry_after) {
                retry_after_ms(value, now).map_or(Retry::Policy, Retry::NotBefore)
            } else {
                Retry::Policy
            };
            failure(format!("HTTP {status} from {url}"), Some(status), retry)
        }
        Answer::TimedOut => failure(
            format!("timed out after {timeout_ms} ms"),
            None,
            Retry::Policy,
        ),
        Answer::Refused => failure("connection refused".into(), None, Retry::Policy),
        Answer::NotAllowed => failure("destination not allowed".into(), None, Retry::Never),
        Answer::Transport(what) => failure(what, None, Retry::Policy),
    }
}

/// A `Retry-After` value (seconds, or an HTTP date) as a wait from `now`,
/// capped at one hour; `None` when it is neither.
pub fn retry_after_ms(value: &str, now: Millis) -> Option<u64> {
    let value = value.trim();
    let ms = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<u64>()
            .unwrap_or(u64::MAX)
            .saturating_mul(1000)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        let at = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        at.saturating_sub(now.0)
    };
    Some(ms.min(MAX_RETRY_AFTER_MS))
}
