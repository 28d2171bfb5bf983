//! The invocation's bytes, handed to the handler as Lambda sent them.
//! `lambda_runtime` would first scan and copy the whole event into the
//! handler's payload type; the envelope reads it in one pass of its own, and
//! that first scan was the largest cost left on the in-process path.
//!
//! The bytes live in a task-local that only the invocation's own future can
//! read, so [`service_fn`] reads them there and hands them over: no other
//! code can read the task-local from the wrong place and get nothing.

use std::future::Future;
use std::task::{Context, Poll};

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{LambdaEvent, LambdaInvocation};
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static PAYLOAD: Bytes;
}

/// What the runtime's own deserializer is given instead: the handler takes
/// `LambdaEvent<()>`, which reads `null` and nothing else.
const IN_PLACE_OF_PAYLOAD: &[u8] = b"null";

/// Moves each invocation's payload beside it, for [`service_fn`] to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawPayload;

impl<S> Layer<S> for RawPayload {
    type Service = RawPayloadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RawPayloadService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RawPayloadService<S> {
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for RawPayloadService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<Bytes, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let payload = std::mem::replace(
            &mut invocation.body,
            Bytes::from_static(IN_PLACE_OF_PAYLOAD),
        );
        PAYLOAD.scope(payload, self.inner.call(invocation))
    }
}

/// The runtime's `service_fn`, with the invocation's bytes as the handler's
/// first argument. Under [`RawPayload`] they are exactly what Lambda sent;
/// without it, empty.
pub fn service_fn<F, Fut, R, E>(
    handler: F,
) -> impl Service<LambdaEvent<()>, Response = R, Error = E, Future = impl Future<Output = Result<R, E>>>
where
    F: Fn(Bytes, LambdaEvent<()>) -> Fut + Clone,
    Fut: Future<Output = Result<R, E>>,
{
    lambda_runtime::service_fn(move |event: LambdaEvent<()>| {
        let handler = handler.clone();
        // Read when the invocation's future runs, inside the layer's scope.
        async move { handler(current(), event).await }
    })
}

/// The payload of the invocation being handled; empty outside one.
fn current() -> Bytes {
    PAYLOAD.try_with(Bytes::clone).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::service_fn;

    fn invocation(body: &'static [u8]) -> LambdaInvocation {
        LambdaInvocation {
            parts: http::Response::new(()).into_parts().0,
            body: Bytes::from_static(body),
            context: Default::default(),
        }
    }

    #[tokio::test]
    async fn the_handler_reads_the_bytes_lambda_sent_and_the_runtime_reads_null() {
        let event: &[u8] = b"{\"body\": \"caf\\u00e9\", \"isBase64Encoded\": false}";
        let handler = |payload: Bytes, _: LambdaEvent<()>| async move {
            Ok::<_, std::convert::Infallible>(payload)
        };
        let mut service = RawPayload.layer(service_fn(|inv: LambdaInvocation| async move {
            let runtime_saw = serde_json::from_slice::<()>(&inv.body).is_ok();
            let event = LambdaEvent::new((), inv.context);
            let payload = super::service_fn(handler).call(event).await?;
            Ok::<_, std::convert::Infallible>((runtime_saw, payload))
        }));
        let (runtime_read_null, payload) = service.call(invocation(event)).await.unwrap();
        assert!(runtime_read_null);
        assert_eq!(&payload[..], event);
        let outside = super::service_fn(handler)
            .call(LambdaEvent::new((), Default::default()))
            .await
            .unwrap();
        assert!(outside.is_empty(), "no payload outside an invocation");
    }
}
