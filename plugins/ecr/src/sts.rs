//! AWS STS over its query protocol: `AssumeRoleWithWebIdentity` (unsigned; the token is
//! the proof) and `AssumeRole` (SigV4-signed with the source credentials).

use crate::endpoints::Endpoint;
use crate::sigv4::{self, AwsCredentials};
use docker_credential_wasm_sdk::Error;
use docker_credential_wasm_sdk::effects::Effects;
use docker_credential_wasm_sdk::http::{Request, Response, Url};
use docker_credential_wasm_sdk::time::parse_rfc3339;

/// A role to assume and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<u32>,
}

/// Exchanges a web identity token (IRSA, a kubelet service-account token) for credentials.
pub fn assume_role_with_web_identity(
    context: &dyn Effects,
    sts: &Endpoint,
    role: &Role,
    token: &str,
) -> Result<AwsCredentials, Error> {
    let action = "AssumeRoleWithWebIdentity";
    let request = form(sts, action, role, Some(("WebIdentityToken", token))).header("user-agent", crate::USER_AGENT);
    credentials_from(&send(context, &request, action, role)?, action, &role.arn)
}

/// Assumes `role` with `source` credentials.
pub fn assume_role(
    context: &dyn Effects,
    sts: &Endpoint,
    role: &Role,
    source: &AwsCredentials,
) -> Result<AwsCredentials, Error> {
    let request = form(sts, "AssumeRole", role, role.external_id.as_deref().map(|id| ("ExternalId", id)));
    let request = signed(request, source, &sts.region, "sts", context.now())?.header("user-agent", crate::USER_AGENT);
    credentials_from(&send(context, &request, "AssumeRole", role)?, "AssumeRole", &role.arn)
}

/// Sends an STS request; a failure to get an answer names the call.
fn send(context: &dyn Effects, request: &Request, action: &str, role: &Role) -> Result<Response, Error> {
    context.send(request).map_err(|e| e.context(format!("STS {action} for {}", role.arn)))
}

/// The query-protocol request for `action` on `role`, with one `extra` field.
fn form(sts: &Endpoint, action: &str, role: &Role, extra: Option<(&str, &str)>) -> Request {
    let mut fields = vec![
        ("Action", action),
        ("Version", "2011-06-15"),
        ("RoleArn", &role.arn),
        ("RoleSessionName", &role.session_name),
    ];
    fields.extend(extra);
    let duration = role.duration_seconds.map(|d| d.to_string());
    if let Some(duration) = &duration {
        fields.push(("DurationSeconds", duration));
    }
    Request::post(&format!("{}/", sts.url)).form(&fields)
}

/// `request` with SigV4 headers for `service` in `region` (its `host` is signed from the URL).
pub fn signed(
    mut request: Request,
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now: u64,
) -> Result<Request, Error> {
    let url = Url::parse(&request.url)?;
    let host = match url.https {
        true => url.authority.strip_suffix(":443").unwrap_or(&url.authority),
        false => url.authority.strip_suffix(":80").unwrap_or(&url.authority),
    };
    let (path, query) = url.path_and_query.split_once('?').unwrap_or((&url.path_and_query, ""));
    let mut headers = request.headers.clone();
    headers.push(("host".into(), host.to_string()));
    let unsigned = sigv4::Unsigned { method: &request.method, path, query, headers: &headers, body: &request.body };
    let scope = sigv4::Scope { region, service, time: now };
    let signed = sigv4::sign(&unsigned, credentials, &scope, sigv4::Options::default());
    request.headers.extend(signed.headers);
    Ok(request)
}

/// The credentials in an STS answer, or its error as a readable message.
fn credentials_from(response: &Response, action: &str, role_arn: &str) -> Result<AwsCredentials, Error> {
    let body = response.text();
    let what = format!("STS {action} for {role_arn}");
    if !response.is_success() {
        let code = xml_text(&body, "Code").unwrap_or_else(|| "no error code".into());
        let message = xml_text(&body, "Message").unwrap_or_default();
        let why = format!("{what}: HTTP {} {code}: {message}", response.status);
        return Err(match response.status {
            400 | 401 | 403 => Error::Denied(why),
            _ => Error::Upstream(why),
        });
    }
    let field =
        |name: &str| xml_text(&body, name).ok_or_else(|| Error::Upstream(format!("{what}: the answer has no {name}")));
    let expiration = field("Expiration")?;
    Ok(AwsCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expires_at: Some(
            parse_rfc3339(&expiration)
                .ok_or_else(|| Error::Upstream(format!("{what}: the Expiration {expiration:?} is not a time")))?,
        ),
    })
}

/// The text of the first `<name>` element, entities decoded.
pub fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let text = xml[start..end].trim();
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#xA;", "\n")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_errors_are_read_from_the_xml() {
        let ok = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">
  <AssumeRoleWithWebIdentityResult><Credentials>
    <AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s&amp;cret</SecretAccessKey>
    <SessionToken>tok</SessionToken><Expiration>2026-11-30T12:00:00Z</Expiration>
  </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        let response = Response { status: 200, headers: vec![], body: ok.into() };
        let credentials = credentials_from(&response, "AssumeRoleWithWebIdentity", "arn:r").unwrap();
        assert_eq!(
            (
                credentials.access_key_id.as_str(),
                credentials.secret_access_key.as_str(),
                credentials.session_token.as_deref()
            ),
            ("ASIAEXAMPLE", "s&cret", Some("tok"))
        );
        assert_eq!(credentials.expires_at, parse_rfc3339("2026-11-30T12:00:00Z"));

        let denied = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>";
        let response = Response { status: 403, headers: vec![], body: denied.into() };
        assert_eq!(
            credentials_from(&response, "AssumeRoleWithWebIdentity", "arn:r").unwrap_err(),
            Error::Denied("STS AssumeRoleWithWebIdentity for arn:r: HTTP 403 AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity".into())
        );
        let response = Response { status: 200, headers: vec![], body: b"<html/>".to_vec() };
        assert_eq!(
            credentials_from(&response, "AssumeRole", "arn:r").unwrap_err(),
            Error::Upstream("STS AssumeRole for arn:r: the answer has no Expiration".into())
        );
    }
}
