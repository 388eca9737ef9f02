//! Tables of requests and the replies redis-server gave them, checked against a server
//! through the `redis` crate: the kv example's tests (`mod reply_tables;`). Not in `support`,
//! which crates without `redis` (interop) share.

use redis::{Connection, RedisResult, Value};

/// A reply as the tables write it: `nil`, `OK`, another status as it is, an integer, a
/// quoted string, an array of those in brackets, or the error's code and text.
pub fn shown(reply: RedisResult<Value>) -> String {
    match reply {
        Ok(value) => shown_value(value),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn shown_value(value: Value) -> String {
    match value {
        Value::Nil => "nil".into(),
        Value::Okay => "OK".into(),
        Value::SimpleString(status) => status,
        Value::Int(n) => n.to_string(),
        Value::BulkString(bytes) => format!("{:?}", String::from_utf8_lossy(&bytes)),
        Value::Array(items) => format!("[{}]", items.into_iter().map(shown_value).collect::<Vec<_>>().join(" ")),
        other => format!("{other:?}"),
    }
}

/// A table's request line as a command, `{k}` replaced by `key`.
pub fn request(line: &str, key: &str) -> redis::Cmd {
    let mut words = line.split(' ').map(|w| w.replace("{k}", key));
    let mut cmd = redis::cmd(&words.next().unwrap());
    for word in words {
        cmd.arg(word);
    }
    cmd
}

/// Sends each request of `table` on `key`, one at a time, then all in one pipeline (the key
/// deleted before each pass), and compares every reply with the table's.
pub fn answers_as_table(con: &mut Connection, table: &[(&str, &str)], key: &str) {
    for pipelined in [false, true] {
        let _: () = redis::cmd("DEL").arg(key).query(con).unwrap();
        let got: Vec<RedisResult<Value>> = match pipelined {
            false => table.iter().map(|(line, _)| request(line, key).query::<Value>(con)).collect(),
            true => {
                let mut pipe = redis::pipe();
                for (line, _) in table {
                    pipe.add_command(request(line, key));
                }
                pipe.ignore_errors().query(con).unwrap()
            }
        };
        assert_eq!(got.len(), table.len());
        let how = if pipelined { "pipelined" } else { "alone" };
        for ((line, want), got) in table.iter().zip(got) {
            assert_eq!(shown(got), *want, "{line} (key {key}, {how})");
        }
    }
}
