# This is a generated file! Please edit source .ksy file and use kaitai-struct-compiler to rebuild
# type: ignore

import kaitaistruct
from kaitaistruct import KaitaiStruct, KaitaiStream, BytesIO
from enum import IntEnum


if getattr(kaitaistruct, 'API_VERSION', (0, 9)) < (0, 11):
    raise Exception("Incompatible Kaitai Struct Python API: 0.11 or later is required, but you have %s" % (kaitaistruct.__version__))

class QeltrixV6(KaitaiStruct):
    """A Qeltrix V6 container ("V6 container", `.qltx`) holds one byte stream, cut into blocks, each
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
    
    .. seealso::
       (HKDF) - https://www.rfc-editor.org/rfc/rfc5869
    
    
    .. seealso::
       (Argon2) - https://www.rfc-editor.org/rfc/rfc9106
    
    
    .. seealso::
       (scrypt) - https://www.rfc-editor.org/rfc/rfc7914
    
    
    .. seealso::
       (ChaCha20-Poly1305) - https://www.rfc-editor.org/rfc/rfc8439
    
    
    .. seealso::
       (age's X25519 recipient) - https://age-encryption.org/v1
    
    
    .. seealso::
       (BLAKE3) - https://github.com/BLAKE3-team/BLAKE3-specs
    """

    class Cipher(IntEnum):
        aes_256_gcm = 1
        chacha20_poly1305 = 2

    class Hash(IntEnum):
        sha256 = 1
        blake3 = 2

    class Kdf(IntEnum):
        none = 0
        argon2id = 1
        scrypt = 2

    class SlotType(IntEnum):
        empty = 0
        raw = 1
        argon2id = 2
        scrypt = 3
        x25519 = 4
    def __init__(self, _io, _parent=None, _root=None):
        super(QeltrixV6, self).__init__(_io)
        self._parent = _parent
        self._root = _root or self
        self._read()

    def _read(self):
        self.magic = self._io.read_bytes(4)
        if not self.magic == b"\x51\x4C\x54\x58":
            raise kaitaistruct.ValidationNotEqualError(b"\x51\x4C\x54\x58", self.magic, self._io, u"/seq/0")
        self.version = self._io.read_u2be()
        if not  ((self.version == 6) or (self.version == 1537)) :
            raise kaitaistruct.ValidationNotAnyOfError(self.version, self._io, u"/seq/1")
        _on = self.version
        if _on == 1537:
            pass
            self.header = QeltrixV6.HeaderV61(self._io, self, self._root)
        elif _on == 6:
            pass
            self.header = QeltrixV6.HeaderV60(self._io, self, self._root)
        if self.version == 1537:
            pass
            self.keyring = self._io.read_bytes(self.header.len_keyring_copy * 2)



    def _fetch_instances(self):
        pass
        _on = self.version
        if _on == 1537:
            pass
            self.header._fetch_instances()
        elif _on == 6:
            pass
            self.header._fetch_instances()
        if self.version == 1537:
            pass

        _ = self.footer
        if hasattr(self, '_m_footer'):
            pass
            _on = self.version
            if _on == 1537:
                pass
                self._m_footer._fetch_instances()
            elif _on == 6:
                pass
                self._m_footer._fetch_instances()
            else:
                pass

        _ = self.keyring_a
        if hasattr(self, '_m_keyring_a'):
            pass
            self._m_keyring_a._fetch_instances()

        _ = self.keyring_b
        if hasattr(self, '_m_keyring_b'):
            pass
            self._m_keyring_b._fetch_instances()

        _ = self.trailer
        if hasattr(self, '_m_trailer'):
            pass
            self._m_trailer._fetch_instances()


    class Block(KaitaiStruct):
        """One sealed block, as stored."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.Block, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.prefix = QeltrixV6.BlockPrefix(self._io, self, self._root)
            self.meta_iv = self._io.read_bytes(12)
            self.meta_sealed = self._io.read_bytes(self.prefix.len_meta)
            self.payload_sealed = self._io.read_bytes(self.prefix.len_payload)


        def _fetch_instances(self):
            pass
            self.prefix._fetch_instances()


    class BlockMetadata(KaitaiStruct):
        """Plaintext of a block's V6-C metadata (148 bytes). Stored only sealed (meta_sealed); this
        type documents what decrypting it gives.
        """
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.BlockMetadata, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.ofs_plaintext = self._io.read_u8be()
            self.len_plaintext = self._io.read_u4be()
            self.payload_iv = self._io.read_bytes(12)
            self.block_salt = self._io.read_bytes(32)
            self.wrap_iv = self._io.read_bytes(12)
            self.wrapped_cdk = self._io.read_bytes(48)
            self.plaintext_hash = self._io.read_bytes(32)


        def _fetch_instances(self):
            pass


    class BlockPrefix(KaitaiStruct):
        """The 28-byte clear prefix of a block; authenticated as AAD of the sealed metadata."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.BlockPrefix, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(4)
            if not self.magic == b"\x51\x42\x4C\x4B":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x42\x4C\x4B", self.magic, self._io, u"/types/block_prefix/seq/0")
            self.index = self._io.read_u8be()
            self.len_meta = self._io.read_u4be()
            if not self.len_meta == 164:
                raise kaitaistruct.ValidationNotEqualError(164, self.len_meta, self._io, u"/types/block_prefix/seq/2")
            self.len_payload = self._io.read_u8be()
            if not self.len_payload >= 16:
                raise kaitaistruct.ValidationLessThanError(16, self.len_payload, self._io, u"/types/block_prefix/seq/3")
            if not self.len_payload <= 67108880:
                raise kaitaistruct.ValidationGreaterThanError(67108880, self.len_payload, self._io, u"/types/block_prefix/seq/3")
            self.reserved_flags = self._io.read_bits_int_be(31)
            if not self.reserved_flags == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_flags, self._io, u"/types/block_prefix/seq/4")
            self.is_final = self._io.read_bits_int_be(1) != 0


        def _fetch_instances(self):
            pass


    class FileInfo(KaitaiStruct):
        """Plaintext of the footer's sealed file info (18 bytes + the name). Stored only sealed; this
        type documents what decrypting it gives.
        """
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.FileInfo, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.len_plaintext = self._io.read_u8be()
            self.mtime = self._io.read_u8be()
            self.len_name = self._io.read_u2be()
            if not self.len_name <= 1024:
                raise kaitaistruct.ValidationGreaterThanError(1024, self.len_name, self._io, u"/types/file_info/seq/2")
            self.name = (self._io.read_bytes(self.len_name)).decode(u"UTF-8")


        def _fetch_instances(self):
            pass


    class FooterV60(KaitaiStruct):
        """The 6.0 block index and the sealed file info; its size is 64 + 56 * num_entries + len_info.
        """
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.FooterV60, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(8)
            if not self.magic == b"\x51\x4C\x54\x58\x46\x4F\x4F\x54":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x4C\x54\x58\x46\x4F\x4F\x54", self.magic, self._io, u"/types/footer_v6_0/seq/0")
            self.num_entries = self._io.read_u8be()
            if not self.num_entries <= 2147483648:
                raise kaitaistruct.ValidationGreaterThanError(2147483648, self.num_entries, self._io, u"/types/footer_v6_0/seq/1")
            self.len_plaintext = self._io.read_u8be()
            self.len_info = self._io.read_u4be()
            if not self.len_info >= 46:
                raise kaitaistruct.ValidationLessThanError(46, self.len_info, self._io, u"/types/footer_v6_0/seq/3")
            if not self.len_info <= 1070:
                raise kaitaistruct.ValidationGreaterThanError(1070, self.len_info, self._io, u"/types/footer_v6_0/seq/3")
            self.reserved = self._io.read_u4be()
            if not self.reserved == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved, self._io, u"/types/footer_v6_0/seq/4")
            self.footer_mac = self._io.read_bytes(32)
            self.entries = []
            for i in range(self.num_entries):
                self.entries.append(QeltrixV6.IndexEntry(self._io, self, self._root))

            self.info_iv = self._io.read_bytes(12)
            self.info_sealed = self._io.read_bytes(self.len_info - 12)


        def _fetch_instances(self):
            pass
            for i in range(len(self.entries)):
                pass
                self.entries[i]._fetch_instances()



    class FooterV61(KaitaiStruct):
        """The 6.1 footer: totals, the top table of index pages and the sealed file info; its size
        is 64 + 48 * num_pages + len_info, with num_pages = ceil(num_blocks / E).
        """
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.FooterV61, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(8)
            if not self.magic == b"\x51\x4C\x54\x58\x46\x4F\x4F\x54":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x4C\x54\x58\x46\x4F\x4F\x54", self.magic, self._io, u"/types/footer_v6_1/seq/0")
            self.num_blocks = self._io.read_u8be()
            if not self.num_blocks <= 2147483648:
                raise kaitaistruct.ValidationGreaterThanError(2147483648, self.num_blocks, self._io, u"/types/footer_v6_1/seq/1")
            self.len_plaintext = self._io.read_u8be()
            self.len_info = self._io.read_u4be()
            if not self.len_info >= 46:
                raise kaitaistruct.ValidationLessThanError(46, self.len_info, self._io, u"/types/footer_v6_1/seq/3")
            if not self.len_info <= 1070:
                raise kaitaistruct.ValidationGreaterThanError(1070, self.len_info, self._io, u"/types/footer_v6_1/seq/3")
            self.num_pages = self._io.read_u4be()
            self.footer_mac = self._io.read_bytes(32)
            self.pages = []
            for i in range(self.num_pages):
                self.pages.append(QeltrixV6.TopEntry(self._io, self, self._root))

            self.info_iv = self._io.read_bytes(12)
            self.info_sealed = self._io.read_bytes(self.len_info - 12)


        def _fetch_instances(self):
            pass
            for i in range(len(self.pages)):
                pass
                self.pages[i]._fetch_instances()



    class HeaderV60(KaitaiStruct):
        """The 6.0 header after magic and version (416 bytes in all)."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.HeaderV60, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.cipher = KaitaiStream.resolve_enum(QeltrixV6.Cipher, self._io.read_u1())
            if not isinstance(self.cipher, QeltrixV6.Cipher):
                raise kaitaistruct.ValidationNotInEnumError(self.cipher, self._io, u"/types/header_v6_0/seq/0")
            self.kdf = KaitaiStream.resolve_enum(QeltrixV6.Kdf, self._io.read_u1())
            if not isinstance(self.kdf, QeltrixV6.Kdf):
                raise kaitaistruct.ValidationNotInEnumError(self.kdf, self._io, u"/types/header_v6_0/seq/1")
            self.reserved_flags = self._io.read_bits_int_be(31)
            if not self.reserved_flags == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_flags, self._io, u"/types/header_v6_0/seq/2")
            self.permuted = self._io.read_bits_int_be(1) != 0
            self.block_size = self._io.read_u4be()
            if not self.block_size >= 4096:
                raise kaitaistruct.ValidationLessThanError(4096, self.block_size, self._io, u"/types/header_v6_0/seq/4")
            if not self.block_size <= 67108864:
                raise kaitaistruct.ValidationGreaterThanError(67108864, self.block_size, self._io, u"/types/header_v6_0/seq/4")
            self.container_id = self._io.read_bytes(32)
            self.kdf_salt = self._io.read_bytes(16)
            self.kdf_t = self._io.read_u4be()
            self.kdf_m = self._io.read_u4be()
            self.kdf_p = self._io.read_u4be()
            self.key_commitment = self._io.read_bytes(32)
            self.header_mac = self._io.read_bytes(32)
            self.num_blocks = self._io.read_u8be()
            if not self.num_blocks <= 2147483648:
                raise kaitaistruct.ValidationGreaterThanError(2147483648, self.num_blocks, self._io, u"/types/header_v6_0/seq/12")
            self.len_plaintext = self._io.read_u8be()
            self.ofs_footer = self._io.read_u8be()
            self.len_footer = self._io.read_u8be()
            self.reserved = self._io.read_bytes(240)
            _ = self.reserved
            if not KaitaiStream.byte_array_max(_) == 0:
                raise kaitaistruct.ValidationExprError(self.reserved, self._io, u"/types/header_v6_0/seq/16")
            self.reserved_tail = self._io.read_u4be()
            if not self.reserved_tail == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_tail, self._io, u"/types/header_v6_0/seq/17")


        def _fetch_instances(self):
            pass


    class HeaderV61(KaitaiStruct):
        """The 6.1 header after magic and version (256 bytes in all)."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.HeaderV61, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.cipher = KaitaiStream.resolve_enum(QeltrixV6.Cipher, self._io.read_u1())
            if not isinstance(self.cipher, QeltrixV6.Cipher):
                raise kaitaistruct.ValidationNotInEnumError(self.cipher, self._io, u"/types/header_v6_1/seq/0")
            self.index_hash = KaitaiStream.resolve_enum(QeltrixV6.Hash, self._io.read_u1())
            if not isinstance(self.index_hash, QeltrixV6.Hash):
                raise kaitaistruct.ValidationNotInEnumError(self.index_hash, self._io, u"/types/header_v6_1/seq/1")
            self.block_hash = KaitaiStream.resolve_enum(QeltrixV6.Hash, self._io.read_u1())
            if not isinstance(self.block_hash, QeltrixV6.Hash):
                raise kaitaistruct.ValidationNotInEnumError(self.block_hash, self._io, u"/types/header_v6_1/seq/2")
            self.page_shift = self._io.read_u1()
            if not self.page_shift >= 6:
                raise kaitaistruct.ValidationLessThanError(6, self.page_shift, self._io, u"/types/header_v6_1/seq/3")
            if not self.page_shift <= 16:
                raise kaitaistruct.ValidationGreaterThanError(16, self.page_shift, self._io, u"/types/header_v6_1/seq/3")
            self.reserved_flags = self._io.read_bits_int_be(15)
            if not self.reserved_flags == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_flags, self._io, u"/types/header_v6_1/seq/4")
            self.permuted = self._io.read_bits_int_be(1) != 0
            self.block_size = self._io.read_u4be()
            if not self.block_size >= 4096:
                raise kaitaistruct.ValidationLessThanError(4096, self.block_size, self._io, u"/types/header_v6_1/seq/6")
            if not self.block_size <= 67108864:
                raise kaitaistruct.ValidationGreaterThanError(67108864, self.block_size, self._io, u"/types/header_v6_1/seq/6")
            self.container_id = self._io.read_bytes(32)
            self.keyring_slots = self._io.read_u4be()
            if not self.keyring_slots >= 1:
                raise kaitaistruct.ValidationLessThanError(1, self.keyring_slots, self._io, u"/types/header_v6_1/seq/8")
            if not self.keyring_slots <= 1024:
                raise kaitaistruct.ValidationGreaterThanError(1024, self.keyring_slots, self._io, u"/types/header_v6_1/seq/8")
            self.reserved_a = self._io.read_u4be()
            if not self.reserved_a == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_a, self._io, u"/types/header_v6_1/seq/9")
            self.key_commitment = self._io.read_bytes(32)
            self.num_blocks = self._io.read_u8be()
            if not self.num_blocks <= 2147483648:
                raise kaitaistruct.ValidationGreaterThanError(2147483648, self.num_blocks, self._io, u"/types/header_v6_1/seq/11")
            self.len_plaintext = self._io.read_u8be()
            self.ofs_footer = self._io.read_u8be()
            self.len_footer = self._io.read_u8be()
            self.reserved = self._io.read_bytes(104)
            _ = self.reserved
            if not KaitaiStream.byte_array_max(_) == 0:
                raise kaitaistruct.ValidationExprError(self.reserved, self._io, u"/types/header_v6_1/seq/15")
            self.header_mac = self._io.read_bytes(32)


        def _fetch_instances(self):
            pass

        @property
        def len_keyring_copy(self):
            """Bytes of one keyring copy."""
            if hasattr(self, '_m_len_keyring_copy'):
                return self._m_len_keyring_copy

            self._m_len_keyring_copy = 56 + 128 * self.keyring_slots
            return getattr(self, '_m_len_keyring_copy', None)

        @property
        def num_page_entries(self):
            """E, index entries per page."""
            if hasattr(self, '_m_num_page_entries'):
                return self._m_num_page_entries

            self._m_num_page_entries = 1 << self.page_shift
            return getattr(self, '_m_num_page_entries', None)

        @property
        def ofs_first_block(self):
            """Where block 0 (or, for an empty stream, the footer) starts."""
            if hasattr(self, '_m_ofs_first_block'):
                return self._m_ofs_first_block

            self._m_ofs_first_block = 256 + 2 * self.len_keyring_copy
            return getattr(self, '_m_ofs_first_block', None)


    class IndexEntry(KaitaiStruct):
        """Where one block is, in the plaintext and in the container."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.IndexEntry, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.ofs_plaintext = self._io.read_u8be()
            self.ofs_block = self._io.read_u8be()
            self.len_plaintext = self._io.read_u4be()
            self.len_block = self._io.read_u4be()
            self.hash = self._io.read_bytes(32)


        def _fetch_instances(self):
            pass
            _ = self.block
            if hasattr(self, '_m_block'):
                pass
                self._m_block._fetch_instances()


        @property
        def block(self):
            """The block this entry describes."""
            if hasattr(self, '_m_block'):
                return self._m_block

            io = self._root._io
            _pos = io.pos()
            io.seek(self.ofs_block)
            self._raw__m_block = io.read_bytes(self.len_block)
            _io__raw__m_block = KaitaiStream(BytesIO(self._raw__m_block))
            self._m_block = QeltrixV6.Block(_io__raw__m_block, self, self._root)
            io.seek(_pos)
            return getattr(self, '_m_block', None)


    class IndexPage(KaitaiStruct):
        """One 6.1 index page: the entries of blocks first_block .. first_block + num_entries - 1;
        its size is 16 + 56 * num_entries.
        """
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.IndexPage, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(4)
            if not self.magic == b"\x51\x50\x41\x47":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x50\x41\x47", self.magic, self._io, u"/types/index_page/seq/0")
            self.num_entries = self._io.read_u4be()
            if not self.num_entries >= 1:
                raise kaitaistruct.ValidationLessThanError(1, self.num_entries, self._io, u"/types/index_page/seq/1")
            if not self.num_entries <= 65536:
                raise kaitaistruct.ValidationGreaterThanError(65536, self.num_entries, self._io, u"/types/index_page/seq/1")
            self.first_block = self._io.read_u8be()
            self.entries = []
            for i in range(self.num_entries):
                self.entries.append(QeltrixV6.IndexEntry(self._io, self, self._root))



        def _fetch_instances(self):
            pass
            for i in range(len(self.entries)):
                pass
                self.entries[i]._fetch_instances()



    class KeySlot(KaitaiStruct):
        """One 128-byte key slot wrapping the file secret S for one recipient."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.KeySlot, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.slot_type = KaitaiStream.resolve_enum(QeltrixV6.SlotType, self._io.read_u1())
            self.reserved = self._io.read_u1()
            if not self.reserved == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved, self._io, u"/types/key_slot/seq/1")
            self.len_body = self._io.read_u2be()
            _ = self.len_body
            if not  ((_ <= 124) and ( ((self.slot_type != QeltrixV6.SlotType.empty) or (_ == 0)) ) and ( ((self.slot_type != QeltrixV6.SlotType.raw) or (_ == 48)) ) and ( (( ((self.slot_type != QeltrixV6.SlotType.argon2id) and (self.slot_type != QeltrixV6.SlotType.scrypt)) ) or (_ == 76)) ) and ( ((self.slot_type != QeltrixV6.SlotType.x25519) or (_ == 96)) )) :
                raise kaitaistruct.ValidationExprError(self.len_body, self._io, u"/types/key_slot/seq/2")
            _on = self.slot_type
            if _on == QeltrixV6.SlotType.argon2id:
                pass
                self._raw_body = self._io.read_bytes(self.len_body)
                _io__raw_body = KaitaiStream(BytesIO(self._raw_body))
                self.body = QeltrixV6.SlotPassphrase(_io__raw_body, self, self._root)
            elif _on == QeltrixV6.SlotType.raw:
                pass
                self._raw_body = self._io.read_bytes(self.len_body)
                _io__raw_body = KaitaiStream(BytesIO(self._raw_body))
                self.body = QeltrixV6.SlotRaw(_io__raw_body, self, self._root)
            elif _on == QeltrixV6.SlotType.scrypt:
                pass
                self._raw_body = self._io.read_bytes(self.len_body)
                _io__raw_body = KaitaiStream(BytesIO(self._raw_body))
                self.body = QeltrixV6.SlotPassphrase(_io__raw_body, self, self._root)
            elif _on == QeltrixV6.SlotType.x25519:
                pass
                self._raw_body = self._io.read_bytes(self.len_body)
                _io__raw_body = KaitaiStream(BytesIO(self._raw_body))
                self.body = QeltrixV6.SlotX25519(_io__raw_body, self, self._root)
            else:
                pass
                self.body = self._io.read_bytes(self.len_body)
            self.padding = self._io.read_bytes(124 - self.len_body)
            _ = self.padding
            if not  ((len(_) == 0) or (KaitaiStream.byte_array_max(_) == 0)) :
                raise kaitaistruct.ValidationExprError(self.padding, self._io, u"/types/key_slot/seq/4")


        def _fetch_instances(self):
            pass
            _on = self.slot_type
            if _on == QeltrixV6.SlotType.argon2id:
                pass
                self.body._fetch_instances()
            elif _on == QeltrixV6.SlotType.raw:
                pass
                self.body._fetch_instances()
            elif _on == QeltrixV6.SlotType.scrypt:
                pass
                self.body._fetch_instances()
            elif _on == QeltrixV6.SlotType.x25519:
                pass
                self.body._fetch_instances()
            else:
                pass


    class KeyringCopy(KaitaiStruct):
        """One copy of the 6.1 keyring."""
        def __init__(self, num_expected_slots, _io, _parent=None, _root=None):
            super(QeltrixV6.KeyringCopy, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self.num_expected_slots = num_expected_slots
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(4)
            if not self.magic == b"\x51\x4B\x45\x59":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x4B\x45\x59", self.magic, self._io, u"/types/keyring_copy/seq/0")
            self.num_slots = self._io.read_u4be()
            if not self.num_slots == self.num_expected_slots:
                raise kaitaistruct.ValidationNotEqualError(self.num_expected_slots, self.num_slots, self._io, u"/types/keyring_copy/seq/1")
            self.generation = self._io.read_u8be()
            self.reserved = self._io.read_u8be()
            if not self.reserved == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved, self._io, u"/types/keyring_copy/seq/3")
            self.slots = []
            for i in range(self.num_slots):
                self.slots.append(QeltrixV6.KeySlot(self._io, self, self._root))

            self.keyring_mac = self._io.read_bytes(32)


        def _fetch_instances(self):
            pass
            for i in range(len(self.slots)):
                pass
                self.slots[i]._fetch_instances()



    class SlotPassphrase(KaitaiStruct):
        """A passphrase opens this slot (body 76 bytes). Costs as in the 6.0 header's kdf fields."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.SlotPassphrase, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.salt = self._io.read_bytes(16)
            self.cost_t = self._io.read_u4be()
            self.cost_m = self._io.read_u4be()
            self.cost_p = self._io.read_u4be()
            self.wrapped_key = self._io.read_bytes(48)


        def _fetch_instances(self):
            pass


    class SlotRaw(KaitaiStruct):
        """A raw 32-byte master key opens this slot (body 48 bytes)."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.SlotRaw, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.wrapped_key = self._io.read_bytes(48)


        def _fetch_instances(self):
            pass


    class SlotX25519(KaitaiStruct):
        """An age X25519 identity opens this slot (body 96 bytes), as an age X25519 stanza."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.SlotX25519, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.ephemeral_share = self._io.read_bytes(32)
            self.wrapped_key = self._io.read_bytes(48)
            self.recipient_tag = self._io.read_bytes(16)


        def _fetch_instances(self):
            pass


    class TopEntry(KaitaiStruct):
        """Where index page k is and what it hashes to (48 bytes)."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.TopEntry, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.ofs_page = self._io.read_u8be()
            self.ofs_plaintext = self._io.read_u8be()
            self.hash = self._io.read_bytes(32)


        def _fetch_instances(self):
            pass
            _ = self.page
            if hasattr(self, '_m_page'):
                pass
                self._m_page._fetch_instances()


        @property
        def page(self):
            """The page this entry describes."""
            if hasattr(self, '_m_page'):
                return self._m_page

            io = self._root._io
            _pos = io.pos()
            io.seek(self.ofs_page)
            self._m_page = QeltrixV6.IndexPage(io, self, self._root)
            io.seek(_pos)
            return getattr(self, '_m_page', None)


    class Trailer(KaitaiStruct):
        """The last 24 bytes of every container."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.Trailer, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.ofs_footer = self._io.read_u8be()
            self.len_footer = self._io.read_u8be()
            self.magic = self._io.read_bytes(8)
            if not self.magic == b"\x51\x4C\x54\x58\x2D\x45\x4E\x44":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x4C\x54\x58\x2D\x45\x4E\x44", self.magic, self._io, u"/types/trailer/seq/2")


        def _fetch_instances(self):
            pass


    @property
    def footer(self):
        """The block index (6.0) or the top table of the index pages (6.1), reached through the trailer."""
        if hasattr(self, '_m_footer'):
            return self._m_footer

        _pos = self._io.pos()
        self._io.seek(self.trailer.ofs_footer)
        _on = self.version
        if _on == 1537:
            pass
            self._raw__m_footer = self._io.read_bytes(self.trailer.len_footer)
            _io__raw__m_footer = KaitaiStream(BytesIO(self._raw__m_footer))
            self._m_footer = QeltrixV6.FooterV61(_io__raw__m_footer, self, self._root)
        elif _on == 6:
            pass
            self._raw__m_footer = self._io.read_bytes(self.trailer.len_footer)
            _io__raw__m_footer = KaitaiStream(BytesIO(self._raw__m_footer))
            self._m_footer = QeltrixV6.FooterV60(_io__raw__m_footer, self, self._root)
        else:
            pass
            self._m_footer = self._io.read_bytes(self.trailer.len_footer)
        self._io.seek(_pos)
        return getattr(self, '_m_footer', None)

    @property
    def keyring_a(self):
        """Keyring copy A."""
        if hasattr(self, '_m_keyring_a'):
            return self._m_keyring_a

        if self.version == 1537:
            pass
            _pos = self._io.pos()
            self._io.seek(256)
            self._m_keyring_a = QeltrixV6.KeyringCopy(self.header.keyring_slots, self._io, self, self._root)
            self._io.seek(_pos)

        return getattr(self, '_m_keyring_a', None)

    @property
    def keyring_b(self):
        """Keyring copy B."""
        if hasattr(self, '_m_keyring_b'):
            return self._m_keyring_b

        if self.version == 1537:
            pass
            _pos = self._io.pos()
            self._io.seek(256 + self.header.len_keyring_copy)
            self._m_keyring_b = QeltrixV6.KeyringCopy(self.header.keyring_slots, self._io, self, self._root)
            self._io.seek(_pos)

        return getattr(self, '_m_keyring_b', None)

    @property
    def trailer(self):
        """The last 24 bytes of the container; they locate the footer."""
        if hasattr(self, '_m_trailer'):
            return self._m_trailer

        _pos = self._io.pos()
        self._io.seek(self._io.size() - 24)
        self._m_trailer = QeltrixV6.Trailer(self._io, self, self._root)
        self._io.seek(_pos)
        return getattr(self, '_m_trailer', None)


