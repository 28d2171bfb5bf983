//! The floor for the side-by-side comparison: a handler that makes the same
//! three HTTP exchanges per delivery as the real ones (next event, one
//! conditional `PutItem`, the answer) over kept-alive connections, and does
//! nothing else. No signature check, no request signing (a fixed
//! `Authorization` header names the service and region; the local table does
//! not check signatures), no JSON parsing. Its CPU time is what the exchanges
//! alone cost on this machine; no handler doing them can use less.

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

struct Answer {
    status: u16,
    request_id: String,
    body: Vec<u8>,
}

impl Connection {
    fn open(host: &str) -> Self {
        let stream = TcpStream::connect(host).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            reader: BufReader::new(stream),
            host: host.to_owned(),
        }
    }

    fn exchange(&mut self, method: &str, path: &str, extra: &str, body: &[u8]) -> Answer {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n{extra}\r\n",
            self.host,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream
            .write_all(&[head.as_bytes(), body].concat())
            .expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let (mut length, mut request_id) = (0, String::new());
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').expect("header line");
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("length");
            } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                request_id = value.trim().to_owned();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        Answer {
            status,
            request_id,
            body,
        }
    }
}

/// The value of the delivery-id header, found by searching the event text.
fn delivery_id(event: &[u8]) -> &str {
    let text = std::str::from_utf8(event).expect("utf-8");
    let key = "\"x-genesys-delivery-id\":";
    let rest = text[text.find(key).expect("delivery id") + key.len()..].trim_start();
    let rest = &rest[1..];
    &rest[..rest.find('"').expect("end of id")]
}

fn main() {
    let api = env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let endpoint = env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB");
    let table = env::var("DEDUP_TABLE").expect("DEDUP_TABLE");
    let region = env::var("AWS_REGION").expect("AWS_REGION");
    let put_headers = format!(
        "Content-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.PutItem\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=floor/20260101/{region}/dynamodb/aws4_request, \
         SignedHeaders=host, Signature=0\r\n"
    );
    let mut runtime = Connection::open(&api);
    let mut dynamodb = Connection::open(endpoint.trim_start_matches("http://"));
    let base = "/2018-06-01/runtime/invocation";
    loop {
        let next = runtime.exchange("GET", &format!("{base}/next"), "", b"");
        let put = format!(
            r#"{{"TableName":"{table}","Item":{{"pk":{{"S":"{}"}}}},"ConditionExpression":"attribute_not_exists(pk)"}}"#,
            delivery_id(&next.body)
        );
        let stored = dynamodb.exchange("POST", "/", &put_headers, put.as_bytes());
        let status = if stored.status == 200 {
            "accepted"
        } else {
            "duplicate"
        };
        let answer = format!(r#"{{"statusCode":200,"body":"{{\"status\":\"{status}\"}}"}}"#);
        let path = format!("{base}/{}/response", next.request_id);
        runtime.exchange("POST", &path, "", answer.as_bytes());
    }
}
