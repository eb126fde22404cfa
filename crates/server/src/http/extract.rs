//! Extractors that turn axum's own rejections (malformed JSON, an unknown
//! field, a body over the limit, a bad query or path) into the API's JSON
//! errors, and the middleware that does the same for answers axum makes
//! without a handler (unknown route, wrong method).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. Unknown fields and type errors are a 400 naming the field
/// (`facts.os: unknown field ...`), an oversized body a 413.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    match rejection {
        JsonRejection::JsonDataError(error) => ApiError::invalid(error.body_text()),
        JsonRejection::JsonSyntaxError(error) => ApiError::invalid(error.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid-request",
            "the body must be JSON (Content-Type: application/json)",
        ),
        JsonRejection::BytesRejection(error) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large(format!(
                "the request body is too large: {}",
                error.body_text()
            ))
        }
        other => ApiError::new(status, ApiError::code_for_status(status), other.body_text()),
    }
}

/// Query parameters; a bad one is a 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(error)) => {
                Err(ApiError::invalid(error.body_text()))
            }
            Err(other) => Err(ApiError::invalid(other.body_text())),
        }
    }
}

/// Path parameters; a bad one is a 400.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                Err(ApiError::invalid(error.body_text()))
            }
            Err(other) => Err(ApiError::internal("path parameters", &other.body_text())),
        }
    }
}

/// Gives every error answer without a JSON body (404 for an unknown route,
/// 405, a 413 from a transport limit) an [`ErrorBody`](patchline_api::ErrorBody).
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "no such route".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "this route does not accept that method".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        other => other
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
    };
    let mut answer =
        ApiError::new(status, ApiError::code_for_status(status), message).into_response();
    // Keep headers such as `Allow` on a 405.
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}
