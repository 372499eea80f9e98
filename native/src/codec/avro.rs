//! Avro binary encoding, just what our two records need: a zero-copy reader for
//! `ClaimSubmitted` bodies, its writer (claims read from the JSON form, for producers), and
//! the writer primitives for the `ClaimDecision` head.
//!
//! The reader is strict: anything it does not read exactly as our schema writes it is `None`,
//! and the caller hands the record to the Python decoder, which either turns it into our
//! schema's encoding (another writer schema, say) or dead-letters it with its exact error
//! class. So this module never has to name an error.

use crate::claim::{Claim, Line, Ndc};

/// Days from 0001-01-01 (ordinal 1) to 1970-01-01: dates are years 1..=9999, as in Python.
const EPOCH_ORDINAL: i64 = 719_163;
pub const MIN_DAY: i64 = 1 - EPOCH_ORDINAL;
pub const MAX_DAY: i64 = 3_652_059 - EPOCH_ORDINAL;
/// Milliseconds of 0001-01-01T00:00 and 9999-12-31T23:59:59.999.
const MIN_MILLIS: i64 = -62_135_596_800_000;
const MAX_MILLIS: i64 = 253_402_300_799_999;
/// `decimal(11, 2)`: |unscaled| < 10^11.
const DECIMAL_LIMIT: i64 = 100_000_000_000;

/// What an Avro array is read into.
trait Items<T>: Default {
    fn reserve(&mut self, additional: usize);
    fn push(&mut self, item: T);
}

impl<T> Items<T> for Vec<T> {
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
    fn push(&mut self, item: T) {
        Vec::push(self, item);
    }
}

impl<A: smallvec::Array> Items<A::Item> for smallvec::SmallVec<A> {
    fn reserve(&mut self, additional: usize) {
        smallvec::SmallVec::reserve(self, additional);
    }
    fn push(&mut self, item: A::Item) {
        smallvec::SmallVec::push(self, item);
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub fn long(&mut self) -> Option<i64> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return None; // more than 64 bits
            }
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        None
    }

    pub fn int(&mut self) -> Option<i32> {
        i32::try_from(self.long()?).ok()
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.long()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    pub fn string(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn double(&mut self) -> Option<f64> {
        let raw = self.buf.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(f64::from_le_bytes(raw.try_into().ok()?))
    }

    /// The branch of a `["null", T]` union: false for null, true for T.
    fn present(&mut self) -> Option<bool> {
        match self.long()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.present()? {
            Some(Some(read(self)?))
        } else {
            Some(None)
        }
    }

    fn enum_index(&mut self, symbols: i64) -> Option<u8> {
        let index = self.long()?;
        if (0..symbols).contains(&index) {
            Some(index as u8)
        } else {
            None
        }
    }

    fn array<T>(&mut self, item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.array_into(item)
    }

    /// `array`, into any growable sequence (a `SmallVec` keeps short arrays inline).
    fn array_into<T, A: Items<T>>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<A> {
        let mut items = A::default();
        loop {
            let mut count = self.long()?;
            if count == 0 {
                return Some(items);
            }
            if count < 0 {
                count = count.checked_neg()?;
                self.long()?; // the block's size in bytes, for skipping; not needed here
            }
            // A count larger than the bytes left cannot be real: refuse before reserving.
            if count as u64 > (self.buf.len() - self.pos) as u64 {
                return None;
            }
            items.reserve(count as usize);
            for _ in 0..count {
                items.push(item(self)?);
            }
        }
    }

    fn date(&mut self) -> Option<i32> {
        let days = self.int()?;
        (MIN_DAY..=MAX_DAY)
            .contains(&i64::from(days))
            .then_some(days)
    }

    fn timestamp_millis(&mut self) -> Option<i64> {
        let millis = self.long()?;
        (MIN_MILLIS..=MAX_MILLIS)
            .contains(&millis)
            .then_some(millis)
    }

    /// `decimal(11, 2)` on bytes: two's complement big-endian unscaled value, in cents.
    fn cents(&mut self) -> Option<i64> {
        let raw = self.bytes()?;
        if raw.len() > 8 {
            return None; // sign padding beyond 64 bits: rare, left to the Python decoder
        }
        let negative = raw.first().is_some_and(|byte| byte & 0x80 != 0);
        let mut value: i64 = if negative { -1 } else { 0 }; // empty: 0, as Python reads it
        for byte in raw {
            value = (value << 8) | i64::from(*byte);
        }
        (-DECIMAL_LIMIT < value && value < DECIMAL_LIMIT).then_some(value)
    }
}

/// A `ClaimSubmitted` body written with our schema, borrowing its strings from `body`.
pub fn read_claim(body: &[u8]) -> Option<Claim<'_>> {
    let mut r = Reader::new(body);
    let claim = Claim {
        event_id: r.string()?,
        claim_id: r.string()?,
        frequency: r.enum_index(3)?,
        payer_claim_number: r.optional(Reader::string)?,
        submitted_at_millis: r.timestamp_millis()?,
        line_of_business: r.enum_index(5)?,
        contract_id: r.optional(Reader::string)?,
        member_id: r.string()?,
        billing_npi: r.string()?,
        rendering_npi: r.optional(Reader::string)?,
        place_of_service: r.optional(Reader::string)?,
        diagnosis_codes: r.array(Reader::string)?,
        prior_authorization: r.optional(Reader::string)?,
        total_charge: r.cents()?,
        lines: r.array(read_line)?,
    };
    r.at_end().then_some(claim)
}

fn read_line<'a>(r: &mut Reader<'a>) -> Option<Line<'a>> {
    Some(Line {
        line_number: r.int()?,
        procedure_code: r.string()?,
        modifiers: r.array(Reader::string)?,
        service_date_from: r.date()?,
        service_date_to: r.optional(Reader::date)?,
        units: r.double()?,
        infusions: r.optional(Reader::int)?,
        place_of_service: r.optional(Reader::string)?,
        diagnosis_pointers: r.array_into(Reader::int)?,
        charge: r.cents()?,
        ndc: r.optional(read_ndc)?,
        prior_authorization: r.optional(Reader::string)?,
        rendering_npi: r.optional(Reader::string)?,
        description: r.optional(Reader::string)?,
    })
}

fn read_ndc<'a>(r: &mut Reader<'a>) -> Option<Ndc<'a>> {
    Some(Ndc {
        code: r.string()?,
        qualifier: r.string()?,
        unit: r.string()?,
        quantity: r.double()?,
    })
}

/// Appends Avro values to a buffer.
pub struct Writer<'o> {
    pub out: &'o mut Vec<u8>,
}

impl Writer<'_> {
    pub fn long(&mut self, value: i64) {
        let mut z = ((value << 1) ^ (value >> 63)) as u64;
        while z >= 0x80 {
            self.out.push((z as u8 & 0x7F) | 0x80);
            z >>= 7;
        }
        self.out.push(z as u8);
    }

    pub fn string(&mut self, value: &str) {
        self.long(value.len() as i64);
        self.out.extend_from_slice(value.as_bytes());
    }

    /// A `["null", "string"]` union.
    pub fn optional_string(&mut self, value: Option<&str>) {
        self.optional(value, |w, text| w.string(text));
    }

    /// A `["null", T]` union.
    fn optional<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.long(0),
            Some(value) => {
                self.long(1);
                write(self, value);
            }
        }
    }

    /// One block with every item, then the end of the array (just the end when empty).
    fn array<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        if !items.is_empty() {
            self.long(items.len() as i64);
            for item in items {
                write(self, item);
            }
        }
        self.long(0);
    }

    fn double(&mut self, value: f64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// `decimal(11, 2)` from cents, as fastavro writes it: big-endian two's complement in
    /// (bit length of |cents| + 1) bits, rounded up to whole bytes.
    fn cents(&mut self, cents: i64) {
        let bits = 64 - cents.unsigned_abs().leading_zeros() + 1;
        let size = bits.div_ceil(8) as usize;
        self.long(size as i64);
        self.out.extend_from_slice(&cents.to_be_bytes()[8 - size..]);
    }
}

/// The body of `claim` in our `ClaimSubmitted` schema: the bytes fastavro writes for the same
/// record (`read_claim` reads them back).
pub fn write_claim(claim: &Claim) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + 128 * claim.lines.len());
    let mut w = Writer { out: &mut out };
    w.string(claim.event_id);
    w.string(claim.claim_id);
    w.long(i64::from(claim.frequency));
    w.optional_string(claim.payer_claim_number);
    w.long(claim.submitted_at_millis);
    w.long(i64::from(claim.line_of_business));
    w.optional_string(claim.contract_id);
    w.string(claim.member_id);
    w.string(claim.billing_npi);
    w.optional_string(claim.rendering_npi);
    w.optional_string(claim.place_of_service);
    w.array(&claim.diagnosis_codes, |w, code| w.string(code));
    w.optional_string(claim.prior_authorization);
    w.cents(claim.total_charge);
    w.array(&claim.lines, write_line);
    out
}

fn write_line(w: &mut Writer, line: &Line) {
    w.long(i64::from(line.line_number));
    w.string(line.procedure_code);
    w.array(&line.modifiers, |w, modifier| w.string(modifier));
    w.long(i64::from(line.service_date_from));
    w.optional(line.service_date_to, |w, day| w.long(i64::from(day)));
    w.double(line.units);
    w.optional(line.infusions, |w, n| w.long(i64::from(n)));
    w.optional_string(line.place_of_service);
    w.array(&line.diagnosis_pointers, |w, pointer| {
        w.long(i64::from(*pointer))
    });
    w.cents(line.charge);
    w.optional(line.ndc.as_ref(), |w, ndc| {
        w.string(ndc.code);
        w.string(ndc.qualifier);
        w.string(ndc.unit);
        w.double(ndc.quantity);
    });
    w.optional_string(line.prior_authorization);
    w.optional_string(line.rendering_npi);
    w.optional_string(line.description);
}
