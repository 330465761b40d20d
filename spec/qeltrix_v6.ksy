meta:
  id: qeltrix_v6
  title: Qeltrix V6 encrypted, seekable streaming container
  application: qeltrix
  file-extension: qltx
  license: Apache-2.0
  ks-version: '0.11'
  bit-endian: be
  endian: be
doc: |
  A Qeltrix V6 container ("V6 container", `.qltx`) holds one byte stream, cut into blocks, each
  block sealed under its own key with an AEAD cipher. All integers are big-endian. A container is

      header (416 bytes) | block 0 | block 1 | ... | block N-1 | footer | trailer (24 bytes)

  Blocks follow each other in index order with no gaps. Every block holds at most `block_size`
  plaintext bytes; a block other than the last holds at least one byte and may hold fewer than
  `block_size` where a live stream was flushed early; the last block carries the `is_final`
  flag. An empty stream may have no block at all. The footer lists every block (index entries)
  and the trailer, always the last 24 bytes, locates the footer, so a container written to a pipe
  (header never patched) can be read from its end. A reader that walks a stream finds the blocks
  by their prefixes and the footer by its magic.

  Limits, enforced by writers and readers: 4096 <= block_size <= 67108864 (64 MiB);
  num_blocks <= 2147483648 (2^31, which keeps random 96-bit IVs under one key within NIST's
  2^32 bound); plaintext size < 2^63.

  Cryptographic construction (HKDF is HKDF-SHA256 of RFC 5869; HKDF-Expand its second step;
  `||` is concatenation; u8/u16/u32/u64 are big-endian integers of 1, 2, 4, 8 bytes; labels are
  ASCII without terminator):

  * Master key MK: 32 bytes. Either a raw key (`kdf` = none), or
    MK = Argon2id(passphrase, salt = kdf_salt, iterations = kdf_t, memory = kdf_m KiB,
    lanes = kdf_p, length 32) (`kdf` = argon2id), or MK = scrypt(passphrase, salt = kdf_salt,
    N = 2^kdf_t, r = kdf_m, p = kdf_p, length 32) (`kdf` = scrypt). Readers refuse costs above a
    cap (Argon2id: memory above 1 GiB, more than 16 iterations or 16 lanes; scrypt: 128*r*N above
    1 GiB or p above 16).
  * File key FK = HKDF(IKM = MK, salt = container_id,
    info = "qeltrix-v6 file key" || u16 version || u8 cipher || u32 block_size, length 32).
    MK never keys an AEAD or MAC directly.
  * Sub-keys, each HKDF-Expand(FK, label, 32):
    K_wrap   = "qeltrix-v6 key wrap",
    K_meta   = "qeltrix-v6 metadata",
    K_header = "qeltrix-v6 header mac",
    K_footer = "qeltrix-v6 footer mac",
    K_info   = "qeltrix-v6 file info",
    key_commitment = "qeltrix-v6 key commitment" (stored in the header, compared in constant
    time before any block is read: a mismatch means wrong key or passphrase).
  * header_mac = HMAC-SHA256(K_header, header bytes 0..107), i.e. every immutable header field
    including key_commitment. The mutable fields (num_blocks, len_plaintext, ofs_footer,
    len_footer) are zero in a streamed header, or equal the footer's values once patched.
  * Per block i with plaintext P (0 <= len(P) <= block_size), is_final flag f:
    H = SHA-256(P); block_salt = 32 random bytes;
    CDK = HKDF(IKM = FK, salt = block_salt, info = "qeltrix-v6 block key" || u64 i || H,
    length 32), bound to the block's content and position.
    Layer 1: wrapped_cdk = AES-256-GCM(K_wrap, wrap_iv, CDK, aad = container_id || u64 i),
    wrap_iv 12 random bytes.
    Payload: when the header's `permuted` flag is set, P is first permuted (below). Then
    payload_sealed = AEAD(CDK, payload_iv, P', aad = container_id || u64 i || u8 f || u8 cipher),
    with AEAD the header's cipher (AES-256-GCM or ChaCha20-Poly1305), payload_iv 12 random bytes.
    Layer 2: metadata (type block_metadata, 148 bytes, holding payload_iv, block_salt, wrap_iv,
    wrapped_cdk, H and the block's plaintext offset and length) is sealed as
    meta_sealed = AES-256-GCM(K_meta, meta_iv, metadata, aad = container_id || the block's
    28-byte prefix), meta_iv 12 random bytes. H appears nowhere in clear.
  * Permutation (optional, header flag `permuted`): K = HKDF-Expand(CDK,
    "qeltrix-v6 permutation", 72). Table T is the identity on 0..63 shuffled by Fisher-Yates:
    for k = 63 down to 1, j = K[63-k] mod (k+1), swap T[k] and T[j]. Let c = floor(n / 64) for a
    block of n bytes, s = u64 from K[64..71]. If c > 0: a = s mod c, a = 1 if a = 0, then while
    gcd(a, c) != 1: a = a + 1; b = (s >> 32) mod c. Output chunk m (bytes
    64m..64m+63) takes input chunk q = (a*m + b) mod c, and out[64m + k] = in[64q + T[k]]. The
    last n mod 64 bytes stay in place. Unpermute is the inverse map.
  * File info (original name, size, mtime): info_sealed = AES-256-GCM(K_info, info_iv,
    file_info, aad = container_id), K_info = HKDF-Expand(FK, "qeltrix-v6 file info", 32).
  * Footer: footer_mac = HMAC-SHA256(K_footer, header_mac || footer bytes 0..31 || footer bytes
    64..end), over the totals, every entry and the sealed file info. Entry hash = SHA-256 of the block's stored bytes
    (prefix to the end of payload_sealed), so storage damage can be found without a key.
  * Readers release only authenticated plaintext; random access authenticates the footer (and
    so the total size) before releasing any byte.
doc-ref:
  - https://www.rfc-editor.org/rfc/rfc5869 (HKDF)
  - https://www.rfc-editor.org/rfc/rfc9106 (Argon2)
seq:
  - id: header
    type: header
    doc: Fixed-size header at offset 0.
instances:
  trailer:
    pos: _io.size - 24
    type: trailer
    doc: The last 24 bytes of the container; they locate the footer.
  footer:
    pos: trailer.ofs_footer
    size: trailer.len_footer
    type: footer
    doc: The block index, reached through the trailer.
types:
  header:
    doc: The 416-byte container header.
    seq:
      - id: magic
        contents: QLTX
      - id: version
        type: u2
        valid: 6
        doc: Format version; this spec describes version 6.
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
      - id: plaintext_sha256
        size: 32
        doc: SHA-256 of the block's plaintext (before permutation).
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
        doc: Original file name (a plain name, no path), restored by unpack when no output is given.
  footer:
    doc: |
      The block index and the sealed file info; its size is 64 + 56 * num_entries + len_info.
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
  index_entry:
    doc: Where one block is, in the plaintext and in the container; entry i describes block i.
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
        doc: SHA-256 of the block's stored bytes.
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
