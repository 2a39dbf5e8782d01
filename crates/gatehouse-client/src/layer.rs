//! A tower layer that lets a request through only when its guard accepts it, putting the
//! verified claims in the request's extensions (where the extractors find them); any other
//! request gets gatehouse's `401`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service};

use crate::guard::{AccessTokenGuard, AssertionGuard, RequestCheck};
use crate::reject::{refusal, request_id};

/// Wraps services so that `guard` judges every request first.
#[derive(Debug, Clone)]
pub struct RequireLayer<G> {
    guard: G,
}

/// Requests must carry a valid gateway assertion for themselves.
pub type RequireAssertion = RequireLayer<AssertionGuard>;
/// Requests must carry a valid access token.
pub type RequireAccessToken = RequireLayer<AccessTokenGuard>;

impl<G: RequestCheck> RequireLayer<G> {
    /// A layer that lets through only the requests `guard` accepts.
    pub fn new(guard: G) -> Self {
        Self { guard }
    }
}

impl<G: RequestCheck, S> Layer<S> for RequireLayer<G> {
    /// The wrapped service.
    type Service = Require<G, S>;

    /// Wraps `inner` so that this layer's guard judges its requests first.
    fn layer(&self, inner: S) -> Self::Service {
        Require {
            guard: self.guard.clone(),
            inner,
        }
    }
}

/// The service [`RequireLayer`] makes.
#[derive(Debug, Clone)]
pub struct Require<G, S> {
    guard: G,
    inner: S,
}

impl<G, S> Service<Request> for Require<G, S>
where
    G: RequestCheck,
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    /// The inner service's response, or gatehouse's refusal.
    type Response = Response;
    /// The inner service's error.
    type Error = S::Error;
    /// The check, then the inner service's call.
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    /// Ready when the inner service is.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    /// Passes `request` on with its verified claims in its extensions, or refuses it.
    fn call(&mut self, request: Request) -> Self::Future {
        let guard = self.guard.clone();
        // The clone that was made ready serves this request; the fresh one waits for the next.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match guard.check(&parts).await {
                Ok(claims) => {
                    parts.extensions.insert(claims);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refused) => Ok(refusal(&refused, &request_id(&parts.headers))),
            }
        })
    }
}
