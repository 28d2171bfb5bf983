//! A small Lambda Runtime API: the function binary polls it for events and
//! posts its answers, exactly as it does on Lambda.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the function answered: its response, or the error it reported.
pub type Answer = Result<Value, Value>;

struct State {
    queue: Mutex<mpsc::Receiver<(Value, oneshot::Sender<Answer>)>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<Value>>,
    next_id: AtomicU64,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    sender: mpsc::Sender<(Value, oneshot::Sender<Answer>)>,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, receiver) = mpsc::channel(1024);
        let state = Arc::new(State {
            queue: Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            next_id: AtomicU64::new(1),
        });
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| serve(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            sender,
            state,
            server,
        }
    }

    /// Hands `event` to the next poll and waits for the function's answer.
    /// Hands `event` to the function and waits for its answer. A function
    /// that never asks for it (one that stopped at init, say) fails the test
    /// after a bound far above any answer's time, instead of hanging it.
    pub async fn invoke(&self, event: Value) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.sender.send((event, tx)).await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(180), rx)
            .await
            .expect("the function did not answer within 180 s: did it stop at init?")
            .expect("the function went away without answering")
    }

    pub async fn init_error(&self) -> Option<Value> {
        self.state.init_error.lock().await.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let ok = |status: u16, body: Bytes| {
        Response::builder()
            .status(status)
            .body(Full::new(body))
            .unwrap()
    };

    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let next = state.queue.lock().await.recv().await;
        let Some((event, reply)) = next else {
            return Ok(ok(500, Bytes::new()));
        };
        let id = format!("req-{}", state.next_id.fetch_add(1, Ordering::Relaxed));
        state.pending.lock().await.insert(id.clone(), reply);
        let deadline = genesys_webhook::clock::unix_now_ms() + 30_000;
        return Ok(Response::builder()
            .status(200)
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:genesys-webhook",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap());
    }
    if method == Method::POST && path == "/2018-06-01/runtime/init/error" {
        *state.init_error.lock().await = Some(json());
        return Ok(ok(202, Bytes::new()));
    }
    let invocation = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.split_once('/'));
    if let Some((id, kind)) = invocation
        && let Some(reply) = state.pending.lock().await.remove(id)
    {
        let answer = if kind == "response" {
            Ok(json())
        } else {
            Err(json())
        };
        let _ = reply.send(answer);
        return Ok(ok(202, Bytes::new()));
    }
    Ok(ok(404, Bytes::new()))
}

/// A Lambda binary as the service starts it: polling `api`, with the
/// runtime's own variables, JSON logs, and nothing from this process's
/// environment. Callers add credentials and settings.
pub fn lambda_command(
    binary: &str,
    function_name: &str,
    api: &RuntimeApi,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        )
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The function's binary as a Lambda custom runtime polling `api`, with
/// local AWS settings and `vars` on top.
pub fn function(api: &RuntimeApi, vars: &[(&str, &str)]) -> tokio::process::Command {
    let binary = env!("CARGO_BIN_EXE_genesys-webhook");
    let mut cmd = lambda_command(binary, "genesys-webhook", api);
    cmd.env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(vars.iter().copied());
    cmd
}

/// A spawned binary whose stdout and stderr are read as they are written
/// (at TRACE the SDK's own lines would fill a pipe nobody reads and stall
/// it) and kept: a test reads them, and a test that fails while the binary
/// runs shows them in its own output, so a passing test prints nothing.
pub struct Running {
    child: tokio::process::Child,
    stdout: Kept,
    stderr: Kept,
}

type Kept = (
    Arc<std::sync::Mutex<Vec<u8>>>,
    Option<tokio::task::JoinHandle<()>>,
);

fn keep(pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>) -> Kept {
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = kept.clone();
    let reader = pipe.map(|mut pipe| {
        tokio::spawn(async move {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut pipe, &mut chunk).await {
                into.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        })
    });
    (kept, reader)
}

impl Running {
    pub fn start(cmd: &mut tokio::process::Command) -> Self {
        let mut child = cmd.spawn().expect("the binary starts");
        let stdout = keep(child.stdout.take());
        let stderr = keep(child.stderr.take());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Stops the binary; everything it wrote, stdout then stderr.
    pub async fn output(mut self) -> String {
        self.child.start_kill().ok();
        self.child.wait().await.unwrap();
        for reader in [self.stdout.1.take(), self.stderr.1.take()]
            .into_iter()
            .flatten()
        {
            reader.await.unwrap();
        }
        self.text()
    }

    /// What the binary has written so far, stdout then stderr.
    pub fn text(&self) -> String {
        let read = |kept: &Kept| {
            String::from_utf8_lossy(
                &kept
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
            .into_owned()
        };
        format!("{}{}", read(&self.stdout), read(&self.stderr))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- what the binary wrote ---\n{}", self.text());
        }
    }
}
