//! IPC through endpoints (ABI §3.2): `jinue_message_t` and Jinue's message limits.

use crate::types::{get_u64, put_u64, Wire};

/// Most bytes in one message or one reply, all its buffers together.
pub const JINUE_MAX_MESSAGE_SIZE: u64 = 2048;
/// Most entries in one buffer array (send or receive).
pub const JINUE_MAX_BUFFERS_IN_ARRAY: u64 = 256;
/// Largest single receive buffer (64 MiB).
pub const JINUE_MAX_BUFFER_SIZE: u64 = 64 << 20;

/// `jinue_message_t` (56 bytes): two buffer arrays, and three outputs that
/// RECEIVE writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct JinueMessage {
    /// Address of an array of `jinue_buffer_t` (the message or reply to send).
    pub send_buffers: u64,
    /// Entries in `send_buffers`.
    pub send_buffers_length: u64,
    /// Address of an array of `jinue_buffer_t` (where a message or reply lands).
    pub recv_buffers: u64,
    /// Entries in `recv_buffers`.
    pub recv_buffers_length: u64,
    /// RECEIVE: the function number the sender used.
    pub recv_function: u64,
    /// RECEIVE: the cookie of the sender's descriptor.
    pub recv_cookie: u64,
    /// RECEIVE: the sender's receive capacity (largest reply it takes).
    pub reply_max_size: u64,
}

/// Offset of the three RECEIVE outputs inside `jinue_message_t`.
pub const MESSAGE_OUTPUTS_OFFSET: u64 = 32;

impl Wire for JinueMessage {
    const SIZE: usize = 56;
    fn from_bytes(b: &[u8]) -> Self {
        let f = |i: usize| get_u64(b, i * 8);
        Self {
            send_buffers: f(0),
            send_buffers_length: f(1),
            recv_buffers: f(2),
            recv_buffers_length: f(3),
            recv_function: f(4),
            recv_cookie: f(5),
            reply_max_size: f(6),
        }
    }
    fn to_bytes(&self, b: &mut [u8]) {
        let fields = [
            self.send_buffers,
            self.send_buffers_length,
            self.recv_buffers,
            self.recv_buffers_length,
            self.recv_function,
            self.recv_cookie,
            self.reply_max_size,
        ];
        for (i, v) in fields.iter().enumerate() {
            put_u64(b, i * 8, *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn message_layout_matches_the_abi() {
        assert_eq!(size_of::<JinueMessage>(), 56);
        assert_eq!(JinueMessage::SIZE, 56);
        assert_eq!(offset_of!(JinueMessage, send_buffers), 0);
        assert_eq!(offset_of!(JinueMessage, send_buffers_length), 8);
        assert_eq!(offset_of!(JinueMessage, recv_buffers), 16);
        assert_eq!(offset_of!(JinueMessage, recv_buffers_length), 24);
        assert_eq!(offset_of!(JinueMessage, recv_function), 32);
        assert_eq!(offset_of!(JinueMessage, recv_cookie), 40);
        assert_eq!(offset_of!(JinueMessage, reply_max_size), 48);
        assert_eq!(
            MESSAGE_OUTPUTS_OFFSET as usize,
            offset_of!(JinueMessage, recv_function)
        );
    }

    #[test]
    fn message_round_trips() {
        let m = JinueMessage {
            send_buffers: 1,
            send_buffers_length: 2,
            recv_buffers: 3,
            recv_buffers_length: 4,
            recv_function: 5,
            recv_cookie: 6,
            reply_max_size: u64::MAX,
        };
        let mut b = [0u8; 56];
        m.to_bytes(&mut b);
        assert_eq!(JinueMessage::from_bytes(&b), m);
        assert_eq!(b[32], 5);
        assert_eq!(&b[48..56], &[0xff; 8]);
    }

    #[test]
    fn limits_are_jinues() {
        assert_eq!(JINUE_MAX_MESSAGE_SIZE, 2048);
        assert_eq!(JINUE_MAX_BUFFERS_IN_ARRAY, 256);
        assert_eq!(JINUE_MAX_BUFFER_SIZE, 64 * 1024 * 1024);
    }
}
