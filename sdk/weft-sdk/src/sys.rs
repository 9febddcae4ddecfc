//! The host calls, in one place: to the real host (the `host` WIT interface) on WebAssembly,
//! to the thread's [`crate::testing::FakeHost`] elsewhere.

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::weft::component::host;
    use crate::http::{Request, Response};
    use crate::log::Level;
    use crate::{Error, ErrorKind};

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }

    pub fn http_send(req: &Request) -> Result<Response, Error> {
        let wire = host::HttpRequest {
            method: req.method.clone(),
            url: req.url.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            timeout_ms: req.timeout_ms,
        };
        match host::http_send(&wire) {
            Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
            Err(e) => {
                let kind = match e.kind {
                    host::HttpErrorKind::InvalidRequest => ErrorKind::Input,
                    host::HttpErrorKind::EgressDenied => ErrorKind::EgressDenied,
                    host::HttpErrorKind::Connection => ErrorKind::Connection,
                    host::HttpErrorKind::Timeout => ErrorKind::Timeout,
                    host::HttpErrorKind::TooLarge => ErrorKind::Internal,
                };
                Err(Error::new(kind, e.message))
            }
        }
    }

    pub fn state_get(key: &str) -> Result<Option<String>, Error> {
        host::state_get(key).map_err(state_error)
    }

    pub fn state_set(key: &str, value: &str) -> Result<(), Error> {
        host::state_set(key, value).map_err(state_error)
    }

    pub fn state_delete(key: &str) -> Result<(), Error> {
        host::state_delete(key).map_err(state_error)
    }

    fn state_error(message: String) -> Error {
        Error::new(ErrorKind::Internal, format!("state: {message}"))
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::Error;
    use crate::http::{Request, Response};
    use crate::log::Level;
    use crate::testing;

    pub fn log(level: Level, message: &str) {
        testing::with_host(|h| h.log(level, message));
    }

    pub fn http_send(req: &Request) -> Result<Response, Error> {
        // The responder runs outside the borrow of the fake host, so it may log.
        let responder = testing::with_host(|h| h.record_request(req));
        responder(req)
    }

    pub fn state_get(key: &str) -> Result<Option<String>, Error> {
        Ok(testing::with_host(|h| h.state_get(key)))
    }

    pub fn state_set(key: &str, value: &str) -> Result<(), Error> {
        testing::with_host(|h| h.state_set(key, value))
    }

    pub fn state_delete(key: &str) -> Result<(), Error> {
        testing::with_host(|h| h.state_delete(key));
        Ok(())
    }
}

pub(crate) use imp::*;
