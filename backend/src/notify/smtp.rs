//! Sending e-mail through an `smtp` channel block with lettre (async, tokio + rustls): STARTTLS,
//! implicit TLS or plain; the server's certificate checked against the web's roots plus the block's
//! own CA certificate, if it has one (a ministry's private CA).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;

use crate::orchestrator::BlockData;

/// One e-mail.
pub struct Mail<'a> {
    pub to: &'a [String],
    pub subject: &'a str,
    pub text: String,
    pub html: String,
}

fn field<'a>(block: &'a BlockData, name: &str) -> Option<&'a str> {
    block
        .data
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn transport(block: &BlockData) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let host = field(block, "host").ok_or("the smtp block has no host")?;
    let port = block
        .data
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(587);
    let security = field(block, "security").unwrap_or("starttls");
    let tls = if security == "none" {
        Tls::None
    } else {
        let mut params = TlsParameters::builder(host.to_string());
        if let Some(pem) = field(block, "ca_certificate") {
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|e| format!("the block's CA certificate cannot be read: {e}"))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("TLS cannot be set up: {e}"))?;
        if security == "tls" {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(20)));
    if let (Some(user), Some(password)) = (field(block, "username"), field(block, "password")) {
        builder = builder.credentials(Credentials::new(user.to_string(), password.to_string()));
    }
    Ok(builder.build())
}

/// Sends one e-mail with a text and an HTML part; `Ok` with the server's answer.
pub async fn send(block: &BlockData, mail: Mail<'_>) -> Result<String, String> {
    let from: Mailbox = field(block, "from")
        .ok_or("the smtp block has no sender")?
        .parse()
        .map_err(|e| format!("the sender is not an e-mail address: {e}"))?;
    let mut message = Message::builder().from(from).subject(mail.subject);
    for to in mail.to {
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("`{to}` is not an e-mail address: {e}"))?;
        message = message.to(to);
    }
    let message = message
        .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
        .map_err(|e| format!("the e-mail cannot be built: {e}"))?;
    let response = transport(block)?
        .send(message)
        .await
        .map_err(|e| format!("the mail server refused or could not be reached: {e}"))?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}
