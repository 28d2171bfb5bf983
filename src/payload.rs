//! The invocation's bytes, handed to the handler as Lambda sent them.
//! `lambda_runtime` would first scan and copy the whole event into the
//! handler's payload type; the envelope reads it in one pass of its own, and
//! that first scan was the largest cost left on the in-process path.

use std::task::{Context, Poll};

use bytes::Bytes;
use lambda_runtime::LambdaInvocation;
use lambda_runtime::tower::{Layer, Service};
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static PAYLOAD: Bytes;
}

/// What the runtime's own deserializer is given instead: the handler takes
/// `LambdaEvent<()>`, which reads `null` and nothing else.
const IN_PLACE_OF_PAYLOAD: &[u8] = b"null";

/// Moves each invocation's payload beside it, for [`current`] to read.
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

/// The payload of the invocation being handled; empty outside one.
pub fn current() -> Bytes {
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
        let mut service = RawPayload.layer(service_fn(|inv: LambdaInvocation| async move {
            let runtime_saw = serde_json::from_slice::<()>(&inv.body);
            Ok::<_, std::convert::Infallible>((runtime_saw.is_ok(), current()))
        }));
        let (runtime_read_null, payload) = service.call(invocation(event)).await.unwrap();
        assert!(runtime_read_null);
        assert_eq!(&payload[..], event);
        assert!(current().is_empty(), "no payload outside an invocation");
    }
}
