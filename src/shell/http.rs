//! The Application Auto Scaling SDK's HTTP client, on reqwest: so every client of the process shares one
//! TLS configuration (see `tls.rs`) and one HTTP stack, instead of the SDK bringing its own hyper and
//! loading the system's trust roots again. Timeouts per attempt stay the SDK's (its orchestrator enforces
//! them); connecting is bounded here.

use aws_sdk_applicationautoscaling::config::http::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// An SDK HTTP client that sends through `http`.
pub fn sdk_client(http: reqwest::Client) -> SharedHttpClient {
    SharedHttpClient::new(Reqwest(http))
}

#[derive(Debug, Clone)]
struct Reqwest(reqwest::Client);

impl HttpClient for Reqwest {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Reqwest {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let http = self.0.clone();
        HttpConnectorFuture::new(async move {
            let method = reqwest::Method::from_bytes(request.method().as_bytes()).map_err(|e| ConnectorError::user(e.into()))?;
            let mut outgoing = http.request(method, request.uri());
            for (name, value) in request.headers().iter() {
                outgoing = outgoing.header(name, value);
            }
            // The SDK's request bodies here are small and in memory (JSON), never streams.
            let body = request.body().bytes().map(<[u8]>::to_vec).unwrap_or_default();
            let answer = outgoing.body(body).send().await.map_err(connector_error)?;
            let status = StatusCode::try_from(answer.status().as_u16()).map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers: Vec<(String, String)> =
                answer.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))).collect();
            let bytes = answer.bytes().await.map_err(connector_error)?;
            let mut response = HttpResponse::new(status, SdkBody::from(bytes));
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            Ok(response)
        })
    }
}

fn connector_error(err: reqwest::Error) -> ConnectorError {
    let timeout = err.is_timeout();
    // without_url: keep URLs out of error texts, as everywhere in this crate.
    let err = err.without_url();
    if timeout { ConnectorError::timeout(err.into()) } else { ConnectorError::io(err.into()) }
}
