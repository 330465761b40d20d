# This is a generated file! Please edit source .ksy file and use kaitai-struct-compiler to rebuild
# type: ignore

import kaitaistruct
from kaitaistruct import KaitaiStruct, KaitaiStream, BytesIO
from enum import IntEnum


if getattr(kaitaistruct, 'API_VERSION', (0, 9)) < (0, 11):
    raise Exception("Incompatible Kaitai Struct Python API: 0.11 or later is required, but you have %s" % (kaitaistruct.__version__))

class QeltrixV6(KaitaiStruct):
    """A Qeltrix V6 container ("V6 container", `.qltx`) holds one byte stream, cut into blocks, each
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
    
    .. seealso::
       (HKDF) - https://www.rfc-editor.org/rfc/rfc5869
    
    
    .. seealso::
       (Argon2) - https://www.rfc-editor.org/rfc/rfc9106
    """

    class Cipher(IntEnum):
        aes_256_gcm = 1
        chacha20_poly1305 = 2

    class Kdf(IntEnum):
        none = 0
        argon2id = 1
        scrypt = 2
    def __init__(self, _io, _parent=None, _root=None):
        super(QeltrixV6, self).__init__(_io)
        self._parent = _parent
        self._root = _root or self
        self._read()

    def _read(self):
        self.header = QeltrixV6.Header(self._io, self, self._root)


    def _fetch_instances(self):
        pass
        self.header._fetch_instances()
        _ = self.footer
        if hasattr(self, '_m_footer'):
            pass
            self._m_footer._fetch_instances()

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
            self.plaintext_sha256 = self._io.read_bytes(32)


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


    class Footer(KaitaiStruct):
        """The block index and the sealed file info; its size is 64 + 56 * num_entries + len_info.
        """
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.Footer, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(8)
            if not self.magic == b"\x51\x4C\x54\x58\x46\x4F\x4F\x54":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x4C\x54\x58\x46\x4F\x4F\x54", self.magic, self._io, u"/types/footer/seq/0")
            self.num_entries = self._io.read_u8be()
            if not self.num_entries <= 2147483648:
                raise kaitaistruct.ValidationGreaterThanError(2147483648, self.num_entries, self._io, u"/types/footer/seq/1")
            self.len_plaintext = self._io.read_u8be()
            self.len_info = self._io.read_u4be()
            if not self.len_info >= 46:
                raise kaitaistruct.ValidationLessThanError(46, self.len_info, self._io, u"/types/footer/seq/3")
            if not self.len_info <= 1070:
                raise kaitaistruct.ValidationGreaterThanError(1070, self.len_info, self._io, u"/types/footer/seq/3")
            self.reserved = self._io.read_u4be()
            if not self.reserved == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved, self._io, u"/types/footer/seq/4")
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



    class Header(KaitaiStruct):
        """The 416-byte container header."""
        def __init__(self, _io, _parent=None, _root=None):
            super(QeltrixV6.Header, self).__init__(_io)
            self._parent = _parent
            self._root = _root
            self._read()

        def _read(self):
            self.magic = self._io.read_bytes(4)
            if not self.magic == b"\x51\x4C\x54\x58":
                raise kaitaistruct.ValidationNotEqualError(b"\x51\x4C\x54\x58", self.magic, self._io, u"/types/header/seq/0")
            self.version = self._io.read_u2be()
            if not self.version == 6:
                raise kaitaistruct.ValidationNotEqualError(6, self.version, self._io, u"/types/header/seq/1")
            self.cipher = KaitaiStream.resolve_enum(QeltrixV6.Cipher, self._io.read_u1())
            if not isinstance(self.cipher, QeltrixV6.Cipher):
                raise kaitaistruct.ValidationNotInEnumError(self.cipher, self._io, u"/types/header/seq/2")
            self.kdf = KaitaiStream.resolve_enum(QeltrixV6.Kdf, self._io.read_u1())
            if not isinstance(self.kdf, QeltrixV6.Kdf):
                raise kaitaistruct.ValidationNotInEnumError(self.kdf, self._io, u"/types/header/seq/3")
            self.reserved_flags = self._io.read_bits_int_be(31)
            if not self.reserved_flags == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_flags, self._io, u"/types/header/seq/4")
            self.permuted = self._io.read_bits_int_be(1) != 0
            self.block_size = self._io.read_u4be()
            if not self.block_size >= 4096:
                raise kaitaistruct.ValidationLessThanError(4096, self.block_size, self._io, u"/types/header/seq/6")
            if not self.block_size <= 67108864:
                raise kaitaistruct.ValidationGreaterThanError(67108864, self.block_size, self._io, u"/types/header/seq/6")
            self.container_id = self._io.read_bytes(32)
            self.kdf_salt = self._io.read_bytes(16)
            self.kdf_t = self._io.read_u4be()
            self.kdf_m = self._io.read_u4be()
            self.kdf_p = self._io.read_u4be()
            self.key_commitment = self._io.read_bytes(32)
            self.header_mac = self._io.read_bytes(32)
            self.num_blocks = self._io.read_u8be()
            if not self.num_blocks <= 2147483648:
                raise kaitaistruct.ValidationGreaterThanError(2147483648, self.num_blocks, self._io, u"/types/header/seq/14")
            self.len_plaintext = self._io.read_u8be()
            self.ofs_footer = self._io.read_u8be()
            self.len_footer = self._io.read_u8be()
            self.reserved = self._io.read_bytes(240)
            _ = self.reserved
            if not KaitaiStream.byte_array_max(_) == 0:
                raise kaitaistruct.ValidationExprError(self.reserved, self._io, u"/types/header/seq/18")
            self.reserved_tail = self._io.read_u4be()
            if not self.reserved_tail == 0:
                raise kaitaistruct.ValidationNotEqualError(0, self.reserved_tail, self._io, u"/types/header/seq/19")


        def _fetch_instances(self):
            pass


    class IndexEntry(KaitaiStruct):
        """Where one block is, in the plaintext and in the container; entry i describes block i."""
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
        """The block index, reached through the trailer."""
        if hasattr(self, '_m_footer'):
            return self._m_footer

        _pos = self._io.pos()
        self._io.seek(self.trailer.ofs_footer)
        self._raw__m_footer = self._io.read_bytes(self.trailer.len_footer)
        _io__raw__m_footer = KaitaiStream(BytesIO(self._raw__m_footer))
        self._m_footer = QeltrixV6.Footer(_io__raw__m_footer, self, self._root)
        self._io.seek(_pos)
        return getattr(self, '_m_footer', None)

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


