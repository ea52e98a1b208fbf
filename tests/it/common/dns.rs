//! A real DNS server for the DNSBL tests and the benchmark: hickory-server on 127.0.0.1 (UDP),
//! answering A queries from a table, on its own thread so that a test may block on a child
//! process while it serves. Unknown names get NXDOMAIN.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

/// What the server does for one name (or every name under a zone).
#[derive(Debug, Clone)]
pub enum Answer {
    /// These A records (an empty list is NOERROR with no answer).
    A(Vec<Ipv4Addr>),
    NxDomain,
    ServFail,
    Refused,
    /// Never answers.
    Silent,
}

impl Answer {
    pub fn a(addrs: &[&str]) -> Answer {
        Answer::A(
            addrs
                .iter()
                .map(|a| a.parse().expect("IPv4 address"))
                .collect(),
        )
    }
}

struct Handler {
    /// Exact names (lowercase, no trailing dot).
    names: HashMap<String, Answer>,
    /// Zones whose every name gets the answer (e.g. a zone that never answers).
    zones: Vec<(String, Answer)>,
    delay: Duration,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Handler {
    fn answer_for(&self, name: &str) -> Answer {
        if let Some(a) = self.names.get(name) {
            return a.clone();
        }
        self.zones
            .iter()
            .find(|(zone, _)| name == zone || name.ends_with(&format!(".{zone}")))
            .map(|(_, a)| a.clone())
            .unwrap_or(Answer::NxDomain)
    }
}

fn no_info(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let Some(query) = request.queries.queries().first() else {
            return no_info(request);
        };
        let name = query
            .name()
            .to_string()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.seen.lock().expect("lock").push(name.clone());
        let answer = self.answer_for(&name);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let builder = MessageResponseBuilder::from_message_request(request);
        let sent = match answer {
            Answer::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return no_info(request);
            }
            Answer::NxDomain | Answer::ServFail | Answer::Refused => {
                let code = match answer {
                    Answer::NxDomain => ResponseCode::NXDomain,
                    Answer::ServFail => ResponseCode::ServFail,
                    _ => ResponseCode::Refused,
                };
                response_handle
                    .send_response(builder.error_msg(&request.metadata, code))
                    .await
            }
            Answer::A(addrs) => {
                let owner = Name::from(query.name().clone());
                let records: Vec<Record> = addrs
                    .iter()
                    .map(|a| Record::from_rdata(owner.clone(), 60, RData::A(A(*a))))
                    .collect();
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.authoritative = true;
                metadata.recursion_available = true;
                response_handle
                    .send_response(builder.build(
                        metadata,
                        records.iter(),
                        std::iter::empty(),
                        std::iter::empty(),
                        std::iter::empty(),
                    ))
                    .await
            }
        };
        sent.unwrap_or_else(|_| no_info(request))
    }
}

/// A running server. Dropping it stops the server.
pub struct FakeDns {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeDns {
    /// `names`: exact names (`45.113.0.203.zen.spamhaus.org`); `zones`: answers for every name
    /// under a zone; every answer waits `delay` first.
    pub fn start(names: &[(&str, Answer)], zones: &[(&str, Answer)], delay: Duration) -> FakeDns {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Handler {
            names: names
                .iter()
                .map(|(n, a)| (n.trim_end_matches('.').to_ascii_lowercase(), a.clone()))
                .collect(),
            zones: zones
                .iter()
                .map(|(z, a)| (z.trim_end_matches('.').to_ascii_lowercase(), a.clone()))
                .collect(),
            delay,
            seen: Arc::clone(&seen),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                addr_tx
                    .send(socket.local_addr().expect("addr"))
                    .expect("send addr");
                let mut server = Server::new(handler);
                server.register_socket(socket);
                tokio::select! {
                    _ = server.block_until_done() => {}
                    _ = stop_rx => {}
                }
            });
        });
        let addr = addr_rx.recv().expect("server address");
        FakeDns {
            addr,
            seen,
            stop: Some(stop_tx),
        }
    }

    /// Every name asked so far.
    pub fn queries(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
