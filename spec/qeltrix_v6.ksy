meta:
  id: qeltrix_v6
  title: Qeltrix V6 encrypted, seekable streaming container (format 6.0 and 6.1)
  application: qeltrix
  file-extension: qltx
  license: Apache-2.0
  ks-version: '0.11'
  bit-endian: be
  endian: be
doc: |
  A Qeltrix V6 container ("V6 container", `.qltx`) holds one byte stream, cut into blocks, each
  block sealed under its own key with an AEAD cipher. All integers are big-endian. This spec
  describes two revisions, told apart by the u16 at offset 4: 6 is format 6.0, 0x0601 is format
  6.1 (major version 6 in the high byte, minor version 1 in the low byte; 6.0 wrote the plain
  number 6 there). Writers write 6.1; readers read both. A container is

      6.0:  header (416) | block 0 | ... | block N-1 | footer | trailer (24)
      6.1:  header (256) | keyring copy A | keyring copy B | block 0 | ... | block E-1 | page 0 |
            block E | ... | block N-1 | page P-1 | footer | trailer (24)

  In 6.1 the block index is cut into pages of E = 2^page_shift entries; page k lists blocks
  kE .. kE+E-1 and is written right after the last of them (the last page may list fewer), so a
  writer holds one page of entries at a time. The footer's top table lists every page (offset,
  first plaintext offset, hash); the footer MAC covers the top table, and so through the hashes
  every page. A random read fetches the trailer, the footer, one page and its blocks.

  Blocks follow each other in index order (in 6.1 with each page between its last block and the
  next block) with no gaps. Every block holds at most `block_size` plaintext bytes; a block other
  than the last holds at least one byte and may hold fewer than `block_size` where a live stream
  was flushed early; the last block carries the `is_final` flag. An empty stream is written as no
  block at all (no page in 6.1); readers also accept one empty final block. The footer lists
  every block and the trailer, always the last 24 bytes, locates the footer, so a container
  written to a pipe (header never patched) can be read from its end. A reader that walks a stream
  finds blocks, pages and the footer by their magics.

  Limits, enforced by writers and readers: 4096 <= block_size <= 67108864 (64 MiB);
  num_blocks <= 2147483648 (2^31, which keeps random 96-bit IVs under one key within NIST's
  2^32 bound); plaintext size < 2^63; 6.1: 6 <= page_shift <= 16, 1 <= keyring_slots <= 1024.

  Cryptographic construction (HKDF is HKDF-SHA256 of RFC 5869; HKDF-Expand its second step;
  `||` is concatenation; u8/u16/u32/u64 are big-endian integers of 1, 2, 4, 8 bytes; labels are
  ASCII without terminator; ChaCha20-Poly1305 is RFC 8439's AEAD):

  * Passphrases. 6.1: a passphrase is the UTF-8 encoding of its Unicode NFC normalization (so
    the NFC and NFD spellings of one text are one passphrase); empty passphrases are refused.
    6.0: the UTF-8 encoding as given. Argon2id is RFC 9106 version 0x13 with an empty secret
    and empty associated data, output 32 bytes; costs t >= 1 iterations, p >= 1 lanes,
    8p <= m KiB. scrypt is RFC 7914, output 32 bytes; N = 2^log_n >= 2, r >= 1, p >= 1. Readers
    refuse costs above a cap (Argon2id: memory above 1 GiB, more than 16 iterations or 16 lanes;
    scrypt: 128*r*N above 1 GiB or p above 16) before running the KDF.
  * 6.0 master key MK: 32 bytes. Either a raw key (`kdf` = none), or
    MK = Argon2id(passphrase, salt = kdf_salt, t = kdf_t, m = kdf_m KiB, p = kdf_p)
    (`kdf` = argon2id), or MK = scrypt(passphrase, salt = kdf_salt, N = 2^kdf_t, r = kdf_m,
    p = kdf_p) (`kdf` = scrypt). The file secret S is MK.
  * 6.1 file key: S = 32 random bytes per container, never stored in clear: each keyring slot
    wraps it for one recipient (below). Rekeying rewrites only the keyring; S, and so every key
    below, stays.
  * File key FK = HKDF(IKM = S, salt = container_id,
    info = "qeltrix-v6 file key" || u16 version || u8 cipher || u32 block_size, length 32),
    with version the header's u16 (6 or 0x0601). S never keys an AEAD or MAC directly.
  * Sub-keys, each HKDF-Expand(FK, label, 32):
    K_wrap    = "qeltrix-v6 key wrap",
    K_meta    = "qeltrix-v6 metadata",
    K_header  = "qeltrix-v6 header mac",
    K_footer  = "qeltrix-v6 footer mac",
    K_info    = "qeltrix-v6 file info",
    K_keyring = "qeltrix-v6 keyring mac" (6.1),
    K_recipient = "qeltrix-v6 recipient tag" (6.1),
    key_commitment = "qeltrix-v6 key commitment" (stored in the header, compared in constant
    time before any block is read: a mismatch means wrong key or passphrase).
  * header_mac. 6.0: HMAC-SHA256(K_header, header bytes 0..107), every immutable header field.
    6.1: HMAC-SHA256(K_header, header bytes 0..223 with bytes 88..119 (num_blocks,
    len_plaintext, ofs_footer, len_footer) set to zero), i.e. the whole header but the MAC,
    reserved bytes included. In both, those four patched fields are zero in a streamed header,
    or equal the footer's values once patched; anything else is damage.
  * 6.1 keyring: two copies of `keyring_copy`, A at offset 256 and B right after it, each
    56 + 128 * keyring_slots bytes. keyring_mac = HMAC-SHA256(K_keyring, header_mac || copy
    bytes 0 .. 24 + 128 * keyring_slots - 1), so a slot added, removed or edited by anyone
    without S is detected, and a copy belongs to one header. Every slot wraps S with
    ChaCha20-Poly1305 under a key-encryption key KEK, nonce 12 zero bytes, empty associated
    data: wrapped = S sealed (48 bytes). KEK per slot type:
    raw (1): KEK = HKDF(IKM = a 32-byte master key, salt = container_id,
      info = "qeltrix-v6 raw slot", 32).
    argon2id (2) / scrypt (3): KEK = HKDF(IKM = the KDF's 32-byte output for the slot's salt
      and costs, salt = container_id, info = "qeltrix-v6 passphrase slot", 32). The container
      id makes every KEK unique, so one KDF output may serve many containers.
    x25519 (4): exactly age's X25519 recipient stanza (age-encryption.org/v1): an ephemeral
      X25519 secret e, share = X25519(e, basepoint), shared = X25519(e, recipient public key),
      refused if all zero; KEK = HKDF(IKM = shared, salt = share || recipient public key,
      info = "age-encryption.org/v1/X25519", 32). Recipients and identities are written as
      age writes them (Bech32 "age1..." and "AGE-SECRET-KEY-1..."). The slot stores the share,
      the wrapped key and recipient_tag = HMAC-SHA256(K_recipient, recipient public key), first
      16 bytes, K_recipient = HKDF-Expand(FK, "qeltrix-v6 recipient tag", 32): only holders of
      S can tell which recipient a slot is for (to list or remove it); to anyone else the slot
      names nobody, as in age.
  * Opening a 6.1 container: a reader parses both copies; a copy whose structure is invalid is
    ignored. It takes the valid copies in order of decreasing generation (A first on a tie)
    and, in each, tries its secrets on the slots of matching type; the first slot that unwraps
    gives S, which is accepted only if key_commitment, header_mac and that copy's keyring_mac
    all verify. No slot opens: wrong secret. Slot types a reader does not know are skipped.
  * Changing the keyring in place (rekey) is crash-safe: the writer reads both copies, takes the
    one that opens (generation g), and writes the new keyring with generation g + 1 over the
    OTHER copy, then makes it durable (fsync). That completed write is the commit point: before
    it, the copy of generation g opens the container with the old slots; after it, the new copy
    (the highest valid generation) opens it with the new slots. Then the writer writes the same
    new keyring (generation g + 1) over the old copy too, so that removed slots are gone from
    the file. A torn write of either copy fails its keyring_mac, and the other copy is used.
    Removing a slot does not revoke anybody who already holds S.
  * Per block i with plaintext P (0 <= len(P) <= block_size), is_final flag f:
    H = the block hash of P: SHA-256(P) in 6.0; in 6.1 the header's `block_hash`, SHA-256(P)
    or BLAKE3(P) with 32 bytes of output. block_salt = 32 random bytes;
    CDK = HKDF(IKM = FK, salt = block_salt, info = "qeltrix-v6 block key" || u64 i || H,
    length 32), bound to the block's content and position: a reader recomputes CDK from the H
    it has checked and rejects a block whose unwrapped CDK differs.
    Layer 1: wrapped_cdk = AES-256-GCM(K_wrap, wrap_iv, CDK, aad = container_id || u64 i),
    wrap_iv 12 random bytes.
    Payload: P' = permute(P) when the header's `permuted` flag is set, else P'= P.
    payload_sealed = AEAD(CDK, payload_iv, P', aad = container_id || u64 i || u8 f || u8 cipher),
    with AEAD the header's cipher (AES-256-GCM or ChaCha20-Poly1305), payload_iv 12 random bytes.
    Layer 2: metadata (type block_metadata, 148 bytes, holding payload_iv, block_salt, wrap_iv,
    wrapped_cdk, H and the block's plaintext offset and length) is sealed as
    meta_sealed = AES-256-GCM(K_meta, meta_iv, metadata, aad = container_id || the block's
    28-byte prefix), meta_iv 12 random bytes. H appears nowhere in clear.
  * Permutation (optional, header flag `permuted`; it runs under the AEAD and adds nothing to
    confidentiality or integrity). Its key K (72 bytes): 6.0: HKDF-Expand(CDK,
    "qeltrix-v6 permutation", 72); 6.1: HKDF(IKM = FK, salt = block_salt,
    info = "qeltrix-v6 permutation" || u64 i || H, 72), so no key is both an AEAD key and a KDF
    input. Table T is the identity on 0..63 shuffled by Fisher-Yates:
    for k = 63 down to 1, j = K[63-k] mod (k+1), swap T[k] and T[j]. Let c = floor(n / 64) for a
    block of n bytes, s = u64 from K[64..71]. If c > 0: a = s mod c, a = 1 if a = 0, then while
    gcd(a, c) != 1: a = a + 1; b = (s >> 32) mod c. Output chunk m (bytes
    64m..64m+63) takes input chunk q = (a*m + b) mod c, and out[64m + k] = in[64q + T[k]]. The
    last n mod 64 bytes stay in place. Unpermute is the inverse map.
  * File info (original name, size, mtime): info_sealed = AES-256-GCM(K_info, info_iv,
    file_info, aad = container_id). The name is a plain name: 1..1024 bytes of UTF-8 with no
    "/", "\", NUL or other control character (U+0000..U+001F, U+007F), and not "." or "..";
    or empty for none. Writers refuse other names; a reader never uses a stored name that is
    not plain as an output file name.
  * Index hash (of a block's stored bytes, prefix to the end of payload_sealed, and in 6.1 of a
    page's bytes): SHA-256 in 6.0; in 6.1 the header's `index_hash`, SHA-256 or BLAKE3 (32
    bytes). Storage damage can be found with it without a key.
  * Footer: footer_mac = HMAC-SHA256(K_footer, header_mac || footer bytes 0..31 || footer bytes
    64..end): the totals, every entry (6.0) or every page's top entry (6.1), and the sealed file
    info.
  * Readers release only authenticated plaintext; random access authenticates the footer (and
    so the total size) before releasing any byte.

  Sizes that follow from the counts (6.1; n blocks, P = ceil(n / E) pages, plaintext size L):
  the footer is 64 + 48 P + len_info bytes and starts at data_offset + L + 276 n + 16 P (each
  block stores 220 bytes more than its plaintext, each page 16 + 56 per entry); the trailer's
  footer length is therefore between 110 and 64 + 48 ceil(2^31 / 64) + 1070 bytes, and its
  offset at least 624 (header and the smallest keyring). A patched header's totals must satisfy
  the same equations.

  Order of checks (normative). Every length or count read from the input is checked against
  the container's real size and the format's caps before anything of that size is allocated or
  read: header (fixed size), then (6.1) keyring_slots against the container size, then the
  trailer (its footer must end exactly at the trailer and start after the header and keyring,
  and its length must be at most the reader's cap), then the footer (its length must equal its
  formula for the counts it states; 6.1: num_pages = ceil(num_blocks / E)), then each page (its
  offset and length inside the region before the footer), then each block (inside the region
  its index entry gives). A reader MUST reject a container when:
  - the magic is not "QLTX", or the version is neither 6 nor 0x0601 (unsupported);
  - a header field is out of range, a reserved bit or byte is not zero, or (6.1) a keyring copy
    or slot is malformed in both copies;
  - the key commitment, header_mac, keyring_mac (6.1) or footer_mac does not verify;
  - the patched header fields are neither all zero nor equal to the footer's values;
  - the trailer's footer does not end exactly where the trailer starts (bytes after the
    trailer, or a footer reaching into it), or the footer length is not its formula;
  - (6.1) a page's hash differs from its top entry's, a page lists other blocks than its place
    says, or pages and blocks do not tile the space between the keyring and the footer;
  - an entry's offsets or lengths differ from the sum of the entries before it, or a
    block's prefix (index, lengths, final flag) or sealed metadata (offset, length) differs
    from its index entry;
  - the final flag is missing on the last block or set on another one;
  - an AEAD tag fails, the unwrapped CDK differs from the recomputed one, or the block hash of
    the decrypted plaintext differs from H;
  - the file info does not open, or its size differs from the footer's.
doc-ref:
  - https://www.rfc-editor.org/rfc/rfc5869 (HKDF)
  - https://www.rfc-editor.org/rfc/rfc9106 (Argon2)
  - https://www.rfc-editor.org/rfc/rfc7914 (scrypt)
  - https://www.rfc-editor.org/rfc/rfc8439 (ChaCha20-Poly1305)
  - https://age-encryption.org/v1 (age's X25519 recipient)
  - https://github.com/BLAKE3-team/BLAKE3-specs (BLAKE3)
seq:
  - id: magic
    contents: QLTX
  - id: version
    type: u2
    valid:
      any-of: [6, 0x601]
    doc: Format version; 6 for format 6.0, 0x0601 for format 6.1.
  - id: header
    type:
      switch-on: version
      cases:
        6: header_v6_0
        0x601: header_v6_1
    doc: The rest of the fixed-size header (410 bytes in 6.0, 250 in 6.1).
  - id: keyring
    size: header.as<header_v6_1>.len_keyring_copy * 2
    if: version == 0x601
    doc: |
      Copies A and B of the keyring (6.1), right after the header; each is parsed on its own
      (keyring_a, keyring_b), since a reader ignores a malformed copy and uses the other.
instances:
  keyring_a:
    pos: 256
    type: keyring_copy(header.as<header_v6_1>.keyring_slots)
    if: version == 0x601
    doc: Keyring copy A.
  keyring_b:
    pos: 256 + header.as<header_v6_1>.len_keyring_copy
    type: keyring_copy(header.as<header_v6_1>.keyring_slots)
    if: version == 0x601
    doc: Keyring copy B.
  trailer:
    pos: _io.size - 24
    type: trailer
    doc: The last 24 bytes of the container; they locate the footer.
  footer:
    pos: trailer.ofs_footer
    size: trailer.len_footer
    type:
      switch-on: version
      cases:
        6: footer_v6_0
        0x601: footer_v6_1
    doc: The block index (6.0) or the top table of the index pages (6.1), reached through the trailer.
types:
  header_v6_0:
    doc: The 6.0 header after magic and version (416 bytes in all).
    seq:
      - id: cipher
        type: u1
        enum: cipher
        valid:
          in-enum: true
        doc: Payload AEAD.
      - id: kdf
        type: u1
        enum: kdf
        valid:
          in-enum: true
        doc: How the master key was derived.
      - id: reserved_flags
        type: b31
        valid: 0
        doc: Reserved flag bits; must be zero.
      - id: permuted
        type: b1
        doc: Bit 0 of the 32-bit flags word. Block plaintext is permuted before sealing.
      - id: block_size
        type: u4
        valid:
          min: 4096
          max: 67108864
        doc: Maximum plaintext bytes per block.
      - id: container_id
        size: 32
        doc: Random per-container identifier; the HKDF salt of the file key FK.
      - id: kdf_salt
        size: 16
        doc: Passphrase KDF salt (random); zero when kdf is none.
      - id: kdf_t
        type: u4
        doc: Argon2id iterations, or scrypt log2(N); zero when kdf is none.
      - id: kdf_m
        type: u4
        doc: Argon2id memory in KiB, or scrypt r; zero when kdf is none.
      - id: kdf_p
        type: u4
        doc: Argon2id lanes, or scrypt p; zero when kdf is none.
      - id: key_commitment
        size: 32
        doc: HKDF-Expand(FK, "qeltrix-v6 key commitment", 32).
      - id: header_mac
        size: 32
        doc: HMAC-SHA256(K_header, header bytes 0..107).
      - id: num_blocks
        type: u8
        valid:
          max: 2147483648
        doc: Number of blocks; zero in a streamed (unpatched) header.
      - id: len_plaintext
        type: u8
        doc: Total plaintext size; zero in a streamed header.
      - id: ofs_footer
        type: u8
        doc: Offset of the footer; zero in a streamed header.
      - id: len_footer
        type: u8
        doc: Size of the footer. zero in a streamed header.
      - id: reserved
        size: 240
        valid:
          expr: _.max == 0
        doc: Reserved, all zero.
      - id: reserved_tail
        type: u4
        valid: 0
        doc: Reserved, zero; brings the header to 416 bytes.
  header_v6_1:
    doc: The 6.1 header after magic and version (256 bytes in all).
    seq:
      - id: cipher
        type: u1
        enum: cipher
        valid:
          in-enum: true
        doc: Payload AEAD.
      - id: index_hash
        type: u1
        enum: hash
        valid:
          in-enum: true
        doc: Hash of stored blocks and pages in the index (blake3 for new containers).
      - id: block_hash
        type: u1
        enum: hash
        valid:
          in-enum: true
        doc: Block hash H of each block's plaintext (sha256 by default).
      - id: page_shift
        type: u1
        valid:
          min: 6
          max: 16
        doc: Index entries per page E = 2^page_shift (10 by default).
      - id: reserved_flags
        type: b15
        valid: 0
        doc: Reserved flag bits; must be zero.
      - id: permuted
        type: b1
        doc: Bit 0 of the 16-bit flags word. Block plaintext is permuted before sealing.
      - id: block_size
        type: u4
        valid:
          min: 4096
          max: 67108864
        doc: Maximum plaintext bytes per block.
      - id: container_id
        size: 32
        doc: Random per-container identifier; the HKDF salt of the file key FK.
      - id: keyring_slots
        type: u4
        valid:
          min: 1
          max: 1024
        doc: Slots in each keyring copy (fixed at pack time, so slots change in place).
      - id: reserved_a
        type: u4
        valid: 0
        doc: Reserved, zero.
      - id: key_commitment
        size: 32
        doc: HKDF-Expand(FK, "qeltrix-v6 key commitment", 32).
      - id: num_blocks
        type: u8
        valid:
          max: 2147483648
        doc: Number of blocks; zero in a streamed (unpatched) header. Offset 88.
      - id: len_plaintext
        type: u8
        doc: Total plaintext size; zero in a streamed header.
      - id: ofs_footer
        type: u8
        doc: Offset of the footer; zero in a streamed header.
      - id: len_footer
        type: u8
        doc: Size of the footer; zero in a streamed header. Ends at offset 120.
      - id: reserved
        size: 104
        valid:
          expr: _.max == 0
        doc: Reserved, all zero (covered by header_mac).
      - id: header_mac
        size: 32
        doc: HMAC-SHA256(K_header, header bytes 0..223 with bytes 88..119 zeroed). Offset 224.
    instances:
      len_keyring_copy:
        value: 56 + 128 * keyring_slots
        doc: Bytes of one keyring copy.
      ofs_first_block:
        value: 256 + 2 * len_keyring_copy
        doc: Where block 0 (or, for an empty stream, the footer) starts.
      num_page_entries:
        value: 1 << page_shift
        doc: E, index entries per page.
  keyring_copy:
    doc: One copy of the 6.1 keyring.
    params:
      - id: num_expected_slots
        type: u4
        doc: The header's keyring_slots.
    seq:
      - id: magic
        contents: QKEY
      - id: num_slots
        type: u4
        valid: num_expected_slots
        doc: Slot count; equals the header's keyring_slots.
      - id: generation
        type: u8
        doc: Incremented by every change; the valid copy with the highest generation is current.
      - id: reserved
        type: u8
        valid: 0
        doc: Reserved, zero.
      - id: slots
        type: key_slot
        repeat: expr
        repeat-expr: num_slots
        doc: The key slots, 128 bytes each; empty ones are all zero.
      - id: keyring_mac
        size: 32
        doc: HMAC-SHA256(K_keyring, header_mac || this copy's bytes before keyring_mac).
  key_slot:
    doc: One 128-byte key slot wrapping the file secret S for one recipient.
    seq:
      - id: slot_type
        type: u1
        enum: slot_type
        doc: What opens this slot; empty slots are all zero.
      - id: reserved
        type: u1
        valid: 0
        doc: Reserved, zero.
      - id: len_body
        type: u2
        valid:
          expr: >-
            _ <= 124 and (slot_type != slot_type::empty or _ == 0)
            and (slot_type != slot_type::raw or _ == 48)
            and ((slot_type != slot_type::argon2id and slot_type != slot_type::scrypt) or _ == 76)
            and (slot_type != slot_type::x25519 or _ == 96)
        doc: |
          Bytes of body used (the rest of the 124 is zero): exactly 48 (raw), 76 (argon2id,
          scrypt), 96 (x25519) or 0 (empty); at most 124 for types this revision does not know.
      - id: body
        size: len_body
        type:
          switch-on: slot_type
          cases:
            slot_type::raw: slot_raw
            slot_type::argon2id: slot_passphrase
            slot_type::scrypt: slot_passphrase
            slot_type::x25519: slot_x25519
        doc: The slot's contents, by type.
      - id: padding
        size: 124 - len_body
        valid:
          expr: _.size == 0 or _.max == 0
        doc: Zero.
  slot_raw:
    doc: A raw 32-byte master key opens this slot (body 48 bytes).
    seq:
      - id: wrapped_key
        size: 48
        doc: S sealed with ChaCha20-Poly1305 under KEK (raw slot), zero nonce.
  slot_passphrase:
    doc: A passphrase opens this slot (body 76 bytes). Costs as in the 6.0 header's kdf fields.
    seq:
      - id: salt
        size: 16
        doc: Random KDF salt of this slot.
      - id: cost_t
        type: u4
        doc: Argon2id iterations, or scrypt log2(N).
      - id: cost_m
        type: u4
        doc: Argon2id memory in KiB, or scrypt r.
      - id: cost_p
        type: u4
        doc: Argon2id lanes, or scrypt p.
      - id: wrapped_key
        size: 48
        doc: S sealed with ChaCha20-Poly1305 under KEK (passphrase slot), zero nonce.
  slot_x25519:
    doc: An age X25519 identity opens this slot (body 96 bytes), as an age X25519 stanza.
    seq:
      - id: ephemeral_share
        size: 32
        doc: X25519(e, basepoint) for the ephemeral secret e.
      - id: wrapped_key
        size: 48
        doc: S sealed with ChaCha20-Poly1305 under age's X25519 wrap key, zero nonce.
      - id: recipient_tag
        size: 16
        doc: HMAC-SHA256(K_recipient, recipient public key), first 16 bytes (keyed by FK).
  block:
    doc: One sealed block, as stored.
    seq:
      - id: prefix
        type: block_prefix
      - id: meta_iv
        size: 12
        doc: AES-256-GCM IV of the sealed metadata.
      - id: meta_sealed
        size: prefix.len_meta
        doc: Sealed block_metadata (148 bytes) followed by its 16-byte tag.
      - id: payload_sealed
        size: prefix.len_payload
        doc: Sealed payload followed by its 16-byte tag.
  block_prefix:
    doc: The 28-byte clear prefix of a block; authenticated as AAD of the sealed metadata.
    seq:
      - id: magic
        contents: QBLK
      - id: index
        type: u8
        doc: Block index, from 0.
      - id: len_meta
        type: u4
        valid: 164
        doc: Size of meta_sealed (148 + 16).
      - id: len_payload
        type: u8
        valid:
          min: 16
          max: 67108880
        doc: Size of payload_sealed (plaintext length + 16), at most block_size + 16.
      - id: reserved_flags
        type: b31
        valid: 0
        doc: Reserved flag bits; must be zero.
      - id: is_final
        type: b1
        doc: Bit 0 of the 32-bit flags word. Set on the last block of the stream only.
  block_metadata:
    doc: |
      Plaintext of a block's V6-C metadata (148 bytes). Stored only sealed (meta_sealed); this
      type documents what decrypting it gives.
    seq:
      - id: ofs_plaintext
        type: u8
        doc: Offset of the block's first plaintext byte in the stream.
      - id: len_plaintext
        type: u4
        doc: Plaintext bytes in the block.
      - id: payload_iv
        size: 12
        doc: IV of the payload AEAD.
      - id: block_salt
        size: 32
        doc: HKDF salt of the block key CDK.
      - id: wrap_iv
        size: 12
        doc: AES-256-GCM IV of the wrapped CDK.
      - id: wrapped_cdk
        size: 48
        doc: CDK sealed under K_wrap (32 bytes and a 16-byte tag).
      - id: plaintext_hash
        size: 32
        doc: The block hash H of the block's plaintext (before permutation).
  file_info:
    doc: |
      Plaintext of the footer's sealed file info (18 bytes + the name). Stored only sealed; this
      type documents what decrypting it gives.
    seq:
      - id: len_plaintext
        type: u8
        doc: Total plaintext size (equals the footer's len_plaintext).
      - id: mtime
        type: u8
        doc: Modification time of the source file, seconds since the Unix epoch; 0 if unknown.
      - id: len_name
        type: u2
        valid:
          max: 1024
        doc: Length of name; 0 when the stream had no name.
      - id: name
        type: str
        size: len_name
        encoding: UTF-8
        doc: Original file name, a plain name (see the top-level doc), restored by unpack when no output is given.
  footer_v6_0:
    doc: |
      The 6.0 block index and the sealed file info; its size is 64 + 56 * num_entries + len_info.
    seq:
      - id: magic
        contents: QLTXFOOT
      - id: num_entries
        type: u8
        valid:
          max: 2147483648
        doc: Number of index entries, i.e. of blocks (the header's num_blocks once patched).
      - id: len_plaintext
        type: u8
        doc: Total plaintext size; the sum of the entries' len_plaintext.
      - id: len_info
        type: u4
        valid:
          min: 46
          max: 1070
        doc: Size of info_iv and info_sealed together (46 + length of the stored name, at most 1024).
      - id: reserved
        type: u4
        valid: 0
        doc: Reserved, zero.
      - id: footer_mac
        size: 32
        doc: |
          HMAC-SHA256(K_footer, header_mac || footer bytes 0..31 || footer bytes from 64 to the
          end), i.e. every footer byte but the MAC itself, bound to the header.
      - id: entries
        type: index_entry
        repeat: expr
        repeat-expr: num_entries
        doc: One entry per block, in index order.
      - id: info_iv
        size: 12
        doc: AES-256-GCM IV of the sealed file info.
      - id: info_sealed
        size: len_info - 12
        doc: |
          The file info (type file_info) sealed under K_info with aad = container_id, followed by
          its 16-byte tag. The original name and size are recorded only here, never in clear.
  footer_v6_1:
    doc: |
      The 6.1 footer: totals, the top table of index pages and the sealed file info; its size
      is 64 + 48 * num_pages + len_info, with num_pages = ceil(num_blocks / E).
    seq:
      - id: magic
        contents: QLTXFOOT
      - id: num_blocks
        type: u8
        valid:
          max: 2147483648
        doc: Number of blocks (the header's num_blocks once patched).
      - id: len_plaintext
        type: u8
        doc: Total plaintext size.
      - id: len_info
        type: u4
        valid:
          min: 46
          max: 1070
        doc: Size of info_iv and info_sealed together (46 + length of the stored name).
      - id: num_pages
        type: u4
        doc: Number of index pages, ceil(num_blocks / E).
      - id: footer_mac
        size: 32
        doc: HMAC-SHA256(K_footer, header_mac || footer bytes 0..31 || footer bytes from 64 to the end).
      - id: pages
        type: top_entry
        repeat: expr
        repeat-expr: num_pages
        doc: One entry per index page, in order.
      - id: info_iv
        size: 12
        doc: AES-256-GCM IV of the sealed file info.
      - id: info_sealed
        size: len_info - 12
        doc: The file info sealed under K_info with aad = container_id, and its 16-byte tag.
  top_entry:
    doc: Where index page k is and what it hashes to (48 bytes).
    seq:
      - id: ofs_page
        type: u8
        doc: Offset of the page in the container (right after the last block it lists).
      - id: ofs_plaintext
        type: u8
        doc: Plaintext offset of the page's first block.
      - id: hash
        size: 32
        doc: Index hash of the page's bytes.
    instances:
      page:
        io: _root._io
        pos: ofs_page
        type: index_page
        doc: The page this entry describes.
  index_page:
    doc: |
      One 6.1 index page: the entries of blocks first_block .. first_block + num_entries - 1;
      its size is 16 + 56 * num_entries.
    seq:
      - id: magic
        contents: QPAG
      - id: num_entries
        type: u4
        valid:
          min: 1
          max: 65536
        doc: Entries in this page; E except in the last page.
      - id: first_block
        type: u8
        doc: Index of the first block listed (k * E for page k).
      - id: entries
        type: index_entry
        repeat: expr
        repeat-expr: num_entries
        doc: One entry per block, in index order.
  index_entry:
    doc: Where one block is, in the plaintext and in the container.
    seq:
      - id: ofs_plaintext
        type: u8
        doc: Offset of the block's first plaintext byte.
      - id: ofs_block
        type: u8
        doc: Offset of the block's prefix in the container.
      - id: len_plaintext
        type: u4
        doc: Plaintext bytes in the block.
      - id: len_block
        type: u4
        doc: Stored bytes of the block (len_plaintext + 220).
      - id: hash
        size: 32
        doc: Index hash of the block's stored bytes (SHA-256 in 6.0).
    instances:
      block:
        io: _root._io
        pos: ofs_block
        size: len_block
        type: block
        doc: The block this entry describes.
  trailer:
    doc: The last 24 bytes of every container.
    seq:
      - id: ofs_footer
        type: u8
        doc: Offset of the footer.
      - id: len_footer
        type: u8
        doc: Size of the footer.
      - id: magic
        contents: QLTX-END
enums:
  cipher:
    1: aes_256_gcm
    2: chacha20_poly1305
  kdf:
    0: none
    1: argon2id
    2: scrypt
  hash:
    1: sha256
    2: blake3
  slot_type:
    0: empty
    1: raw
    2: argon2id
    3: scrypt
    4: x25519
