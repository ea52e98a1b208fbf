//! The SMTP session under the mail channel: `smtp://` with STARTTLS (required, except to a relay
//! on this host or with `email.allow_plaintext`), or `smtps://` (implicit TLS).
//!
//! For `smtp://` the session runs over a TCP stream of ours that stops reading after
//! [`MAX_SMTP_READ`] bytes: a server (or an attacker on the path, before STARTTLS) that sends an
//! endless greeting or reply line can take neither memory nor more than the send's time limit.
//! `smtps://` talks TLS from the first byte, so only the authenticated server itself could send
//! much; lettre caps each reply line once it is read.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::email::MailError;
use crate::config::Email;

/// How long one connection, or one read of a reply, may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(20);
/// The most a mail server may send in one session: replies are a few short lines.
pub(super) const MAX_SMTP_READ: u64 = 1 << 20;

/// Whether `smtp://` to `host` may go out without TLS: to a loopback relay, or with
/// `email.allow_plaintext`, and never with credentials.
pub(super) fn plaintext_allowed(cfg: &Email, host: &str) -> bool {
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback());
    !cfg.username.is_set() && (loopback || cfg.allow_plaintext)
}

/// Where mail goes and how it is protected, from `email.smtp_url`.
struct Endpoint {
    host: String,
    port: u16,
    /// `smtps://`: TLS from the first byte.
    implicit_tls: bool,
    /// `smtp://`: whether a server without STARTTLS may get the mail in plain text.
    plaintext_ok: bool,
    tls: TlsParameters,
}

fn endpoint(cfg: &Email) -> Result<Endpoint, MailError> {
    let url = reqwest::Url::parse(&cfg.smtp_url)
        .map_err(|e| MailError::Settings(format!("email.smtp_url {:?}: {e}", cfg.smtp_url)))?;
    let host = url
        .host_str()
        .ok_or_else(|| {
            MailError::Settings(format!("email.smtp_url {:?} has no host", cfg.smtp_url))
        })?
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let implicit_tls = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => {
            return Err(MailError::Settings(format!(
                "email.smtp_url scheme {other:?}: use smtp:// or smtps://"
            )))
        }
    };
    let tls =
        TlsParameters::new(host.clone()).map_err(|e| MailError::Settings(format!("TLS: {e}")))?;
    Ok(Endpoint {
        port: url.port().unwrap_or(if implicit_tls { 465 } else { 25 }),
        // Plain text only to a relay on this host, or where the settings allow it; never with
        // credentials. Elsewhere a stripped STARTTLS must fail, or an on-path attacker reads
        // the reports.
        plaintext_ok: plaintext_allowed(cfg, &host),
        host,
        implicit_tls,
        tls,
    })
}

fn credentials(cfg: &Email) -> Option<Credentials> {
    cfg.username.is_set().then(|| {
        Credentials::new(
            cfg.username.expose().to_string(),
            cfg.password.expose().to_string(),
        )
    })
}

fn failed(cfg: &Email, e: &lettre::transport::smtp::Error) -> MailError {
    MailError::Smtp {
        url: cfg.smtp_url.clone(),
        reason: crate::util::error::root_cause(e),
        retryable: !e.is_permanent(),
    }
}

fn io_failed(cfg: &Email, reason: String) -> MailError {
    MailError::Smtp {
        url: cfg.smtp_url.clone(),
        reason,
        retryable: true,
    }
}

/// A connected `smtp://` session: greeted, STARTTLS done (or allowed without), authenticated.
async fn session(cfg: &Email, at: Endpoint) -> Result<AsyncSmtpConnection, MailError> {
    let tcp = tokio::time::timeout(
        TIMEOUT,
        tokio::net::TcpStream::connect((at.host.as_str(), at.port)),
    )
    .await
    .map_err(|_| io_failed(cfg, format!("no connection within {} s", TIMEOUT.as_secs())))?
    .map_err(|e| io_failed(cfg, e.to_string()))?;
    let hello = ClientId::default();
    let stream = Capped {
        inner: tcp,
        left: MAX_SMTP_READ,
    };
    let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
        .await
        .map_err(|e| failed(cfg, &e))?;
    if !conn.can_starttls() && !at.plaintext_ok {
        // Say what to do, not only what went wrong.
        return Err(MailError::Smtp {
            url: cfg.smtp_url.clone(),
            reason: "the server offers no STARTTLS, and the mail is not sent in plain text: \
                     use smtps://, a relay on this host, or email.allow_plaintext = true (a \
                     trusted LAN relay, no username)"
                .into(),
            retryable: false,
        });
    }
    if conn.can_starttls() {
        conn.starttls(at.tls, &hello)
            .await
            .map_err(|e| failed(cfg, &e))?;
    }
    if let Some(creds) = credentials(cfg) {
        conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
            .await
            .map_err(|e| failed(cfg, &e))?;
    }
    Ok(conn)
}

/// `smtps://`: lettre's own transport, TLS from the first byte.
fn implicit_tls_transport(cfg: &Email, at: Endpoint) -> AsyncSmtpTransport<Tokio1Executor> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(at.host)
        .port(at.port)
        .tls(Tls::Wrapper(at.tls))
        .timeout(Some(TIMEOUT));
    if let Some(creds) = credentials(cfg) {
        builder = builder.credentials(creds);
    }
    builder.build()
}

/// Connects to the SMTP server (and authenticates, when configured) without sending anything.
pub(super) async fn probe(cfg: &Email) -> Result<(), MailError> {
    // A server that drips its replies must not hold `check` either.
    let limit = super::SEND_LIMIT;
    tokio::time::timeout(limit, probe_unbounded(cfg))
        .await
        .unwrap_or_else(|_| {
            Err(io_failed(
                cfg,
                format!("no answer within {} s", limit.as_secs()),
            ))
        })
}

async fn probe_unbounded(cfg: &Email) -> Result<(), MailError> {
    let at = endpoint(cfg)?;
    if at.implicit_tls {
        return match implicit_tls_transport(cfg, at).test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(io_failed(
                cfg,
                "the server did not accept the connection".into(),
            )),
            Err(e) => Err(failed(cfg, &e)),
        };
    }
    let mut conn = session(cfg, at).await?;
    conn.quit().await.map_err(|e| failed(cfg, &e))?;
    Ok(())
}

/// Sends one formatted message.
pub(super) async fn send(
    cfg: &Email,
    envelope: &lettre::address::Envelope,
    raw: &[u8],
) -> Result<(), MailError> {
    let at = endpoint(cfg)?;
    if at.implicit_tls {
        return implicit_tls_transport(cfg, at)
            .send_raw(envelope, raw)
            .await
            .map(|_| ())
            .map_err(|e| failed(cfg, &e));
    }
    let mut conn = session(cfg, at).await?;
    conn.send(envelope, raw)
        .await
        .map_err(|e| failed(cfg, &e))?;
    // The message is accepted: a failed goodbye changes nothing.
    let _ = conn.quit().await;
    Ok(())
}

/// A TCP stream that fails a read once the server has sent [`MAX_SMTP_READ`] bytes.
#[derive(Debug)]
struct Capped {
    inner: tokio::net::TcpStream,
    left: u64,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(io::Error::other(format!(
                "the server sent more than {} KiB",
                MAX_SMTP_READ / 1024
            ))));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.left = self.left.saturating_sub(read);
        polled
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Capped {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn plain_text_only_to_loopback_or_when_allowed_and_never_with_credentials() {
        let open = Email::default();
        let lan = Email {
            allow_plaintext: true,
            ..Email::default()
        };
        let with_login = Email {
            allow_plaintext: true,
            username: Secret::new("soc"),
            ..Email::default()
        };
        for (cfg, host, allowed) in [
            (&open, "127.0.0.1", true),
            (&open, "127.8.9.10", true),
            (&open, "::1", true),
            (&open, "::ffff:127.0.0.1", true),
            (&open, "localhost", true),
            (&open, "LocalHost", true),
            (&open, "192.168.1.25", false),
            (&open, "mail.example.org", false),
            (&open, "localhost.example.org", false),
            (&lan, "192.168.1.25", true),
            (&lan, "mail.example.org", true),
            (&with_login, "127.0.0.1", false),
            (&with_login, "192.168.1.25", false),
        ] {
            assert_eq!(plaintext_allowed(cfg, host), allowed, "{host}");
        }
    }

    #[test]
    fn the_url_names_host_port_and_protection() {
        let cfg = |url: &str| Email {
            smtp_url: url.into(),
            ..Email::default()
        };
        let at = endpoint(&cfg("smtp://127.0.0.1")).unwrap();
        assert_eq!(
            (at.host.as_str(), at.port, at.implicit_tls),
            ("127.0.0.1", 25, false)
        );
        assert!(at.plaintext_ok);
        let at = endpoint(&cfg("smtps://mail.example.org")).unwrap();
        assert_eq!(
            (at.port, at.implicit_tls, at.plaintext_ok),
            (465, true, false)
        );
        let at = endpoint(&cfg("smtp://[::1]:2525")).unwrap();
        assert_eq!((at.host.as_str(), at.port), ("::1", 2525));
        let at = endpoint(&cfg("smtp://mail.example.org:587")).unwrap();
        assert!(!at.plaintext_ok, "STARTTLS required off this host");
        for bad in ["http://mail.example.org", "not a url", "smtp:///x"] {
            assert!(endpoint(&cfg(bad)).is_err(), "{bad}");
        }
    }
}
