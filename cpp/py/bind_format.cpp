// Bindings of format 6.0 (cpp/format.hpp): constants, header, block prefix and metadata, footer, trailer.
#include <pybind11/pybind11.h>

#include <vector>

#include "bind.hpp"
#include "convert.hpp"
#include "format.hpp"
#include "format61.hpp"

namespace qltx {
namespace bind {

namespace {

// The container version whose trailer bounds apply (6.0 by default).
uint16_t trailer_version(const py::object& version) {
  const uint64_t v = as_uint(version, "version", 0xffff);
  if (v != qltx::VERSION_6_0 && v != qltx::VERSION_6_1)
    throw py::value_error("version must be VERSION_6_0 or VERSION_6_1");
  return static_cast<uint16_t>(v);
}

}  // namespace

void bind_format(py::module_& m) {
  m.attr("VERSION") = qltx::VERSION;
  m.attr("HEADER_SIZE") = qltx::HEADER_SIZE;
  m.attr("HEADER_MAC_OFFSET") = qltx::HEADER_MAC_OFFSET;
  m.attr("PREFIX_SIZE") = qltx::PREFIX_SIZE;
  m.attr("META_IV_SIZE") = qltx::META_IV_SIZE;
  m.attr("META_PLAIN_SIZE") = qltx::META_PLAIN_SIZE;
  m.attr("META_SEALED_SIZE") = qltx::META_SEALED_SIZE;
  m.attr("TAG_SIZE") = qltx::TAG_SIZE;
  m.attr("BLOCK_OVERHEAD") = qltx::BLOCK_OVERHEAD;
  m.attr("FOOTER_HEAD_SIZE") = qltx::FOOTER_HEAD_SIZE;
  m.attr("FOOTER_MAC_OFFSET") = qltx::FOOTER_MAC_OFFSET;
  m.attr("FOOTER_ENTRY_SIZE") = qltx::FOOTER_ENTRY_SIZE;
  m.attr("MIN_INFO_SIZE") = qltx::MIN_INFO_SIZE;
  m.attr("MAX_INFO_SIZE") = qltx::MAX_INFO_SIZE;
  m.attr("TRAILER_SIZE") = qltx::TRAILER_SIZE;
  m.attr("MIN_BLOCK_SIZE") = qltx::MIN_BLOCK_SIZE;
  m.attr("MAX_BLOCK_SIZE") = qltx::MAX_BLOCK_SIZE;
  m.attr("MAX_BLOCKS") = qltx::MAX_BLOCKS;
  m.attr("CIPHER_AES256_GCM") = qltx::CIPHER_AES256_GCM;
  m.attr("CIPHER_CHACHA20_POLY1305") = qltx::CIPHER_CHACHA20_POLY1305;
  m.attr("KDF_NONE") = qltx::KDF_NONE;
  m.attr("KDF_ARGON2ID") = qltx::KDF_ARGON2ID;
  m.attr("KDF_SCRYPT") = qltx::KDF_SCRYPT;
  m.attr("FLAG_PERMUTED") = qltx::FLAG_PERMUTED;
  m.attr("FLAG_FINAL") = qltx::FLAG_FINAL;

  // ---- header ----
  py::class_<qltx::Header> header(m, "Header", "The 416-byte container header.");
  header.def(py::init<>());
  int_field(header, "cipher_id", &qltx::Header::cipher_id);
  int_field(header, "kdf_id", &qltx::Header::kdf_id);
  int_field(header, "flags", &qltx::Header::flags);
  int_field(header, "block_size", &qltx::Header::block_size);
  bytes_field(header, "container_id", &qltx::Header::container_id);
  bytes_field(header, "kdf_salt", &qltx::Header::kdf_salt);
  int_field(header, "kdf_t", &qltx::Header::kdf_t);
  int_field(header, "kdf_m", &qltx::Header::kdf_m);
  int_field(header, "kdf_p", &qltx::Header::kdf_p);
  bytes_field(header, "key_commitment", &qltx::Header::key_commitment);
  bytes_field(header, "header_mac", &qltx::Header::header_mac);
  int_field(header, "num_blocks", &qltx::Header::num_blocks);
  int_field(header, "plaintext_size", &qltx::Header::plaintext_size);
  int_field(header, "footer_offset", &qltx::Header::footer_offset);
  int_field(header, "footer_size", &qltx::Header::footer_size);
  header.def_property_readonly("permuted", &qltx::Header::permuted);
  header.def_property_readonly("streamed", &qltx::Header::streamed);
  header.def("__repr__", [](const qltx::Header& h) {
    return "<Header cipher_id=" + std::to_string(h.cipher_id) +
           " kdf_id=" + std::to_string(h.kdf_id) + " flags=" + std::to_string(h.flags) +
           " block_size=" + std::to_string(h.block_size) + " container_id=" +
           hex_prefix(h.container_id) + " num_blocks=" + std::to_string(h.num_blocks) +
           " plaintext_size=" + std::to_string(h.plaintext_size) +
           " footer_offset=" + std::to_string(h.footer_offset) +
           " footer_size=" + std::to_string(h.footer_size) + ">";
  });
  m.def(
      "encode_header",
      [](const qltx::Header& h) { return to_bytes(qltx::encode_header(h)); }, py::arg("h"));
  m.def(
      "decode_header",
      [](const py::buffer& buf) { return qltx::decode_header(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));

  // ---- block prefix ----
  py::class_<qltx::Prefix> prefix(m, "Prefix", "The 28-byte clear prefix of a block.");
  prefix.def(py::init([](const py::object& index, const py::object& payload_size, bool final) {
               qltx::Prefix p;
               p.index = as_uint(index, "index");
               p.payload_size = as_uint(payload_size, "payload_size");
               p.flags = final ? qltx::FLAG_FINAL : 0;
               return p;
             }),
             py::arg("index") = 0, py::arg("payload_size") = qltx::TAG_SIZE,
             py::arg("final") = false);
  int_field(prefix, "index", &qltx::Prefix::index);
  int_field(prefix, "meta_size", &qltx::Prefix::meta_size);
  int_field(prefix, "payload_size", &qltx::Prefix::payload_size);
  int_field(prefix, "flags", &qltx::Prefix::flags);
  prefix.def_property_readonly("final", &qltx::Prefix::final);
  prefix.def("__repr__", [](const qltx::Prefix& p) {
    return "<Prefix index=" + std::to_string(p.index) + " meta_size=" +
           std::to_string(p.meta_size) + " payload_size=" + std::to_string(p.payload_size) +
           " flags=" + std::to_string(p.flags) + ">";
  });
  m.def(
      "encode_prefix",
      [](const qltx::Prefix& p) { return to_bytes(qltx::encode_prefix(p)); }, py::arg("p"));
  m.def(
      "decode_prefix",
      [](const py::buffer& buf, const py::object& block_size) {
        return qltx::decode_prefix(BufferView(buf, false, "buf").bytes(),
                                   as_uint(block_size, "block_size"));
      },
      py::arg("buf"), py::arg("block_size"));

  // ---- block metadata ----
  py::class_<qltx::Meta> meta(m, "Meta", "The 148-byte plaintext of a block's sealed metadata.");
  meta.def(py::init<>());
  int_field(meta, "plain_offset", &qltx::Meta::plain_offset);
  int_field(meta, "plain_size", &qltx::Meta::plain_size);
  bytes_field(meta, "payload_iv", &qltx::Meta::payload_iv);
  bytes_field(meta, "block_salt", &qltx::Meta::block_salt);
  bytes_field(meta, "wrap_iv", &qltx::Meta::wrap_iv);
  bytes_field(meta, "wrapped_cdk", &qltx::Meta::wrapped_cdk);
  bytes_field(meta, "plaintext_sha256", &qltx::Meta::plaintext_sha256);
  meta.def("__repr__", [](const qltx::Meta& mt) {
    return "<Meta plain_offset=" + std::to_string(mt.plain_offset) +
           " plain_size=" + std::to_string(mt.plain_size) + ">";
  });
  m.def(
      "encode_meta", [](const qltx::Meta& mt) { return to_bytes(qltx::encode_meta(mt)); },
      py::arg("m"));
  m.def(
      "decode_meta",
      [](const py::buffer& buf) { return qltx::decode_meta(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));

  // ---- footer ----
  py::class_<qltx::Entry> entry(m, "Entry", "One footer index entry.");
  entry.def_readonly("plain_offset", &qltx::Entry::plain_offset)
      .def_readonly("block_offset", &qltx::Entry::block_offset)
      .def_readonly("plain_size", &qltx::Entry::plain_size)
      .def_readonly("block_size", &qltx::Entry::block_size)
      .def_property_readonly("hash", [](const qltx::Entry& e) { return to_bytes(e.hash); })
      .def("__repr__", [](const qltx::Entry& e) {
        return "<Entry plain_offset=" + std::to_string(e.plain_offset) +
               " block_offset=" + std::to_string(e.block_offset) +
               " plain_size=" + std::to_string(e.plain_size) +
               " block_size=" + std::to_string(e.block_size) + ">";
      });

  py::class_<qltx::Index> index(m, "Index", "The decoded and structurally validated footer.");
  index.def_property_readonly("num_blocks", &qltx::Index::num_blocks)
      .def_property_readonly("plaintext_size", &qltx::Index::plaintext_size)
      .def_property_readonly("mac", [](const qltx::Index& x) { return to_bytes(x.mac()); })
      .def_property_readonly("info_size", &qltx::Index::info_size)
      .def_property_readonly("uniform", &qltx::Index::uniform)
      .def("__len__", [](const qltx::Index& x) { return x.num_blocks(); })
      .def(
          "__getitem__",
          [](const qltx::Index& x, const py::object& i) {
            return x.entry(seq_index(i, x.num_blocks(), "block index"));
          },
          py::arg("i"))
      .def(
          "locate",
          [](const qltx::Index& x, const py::object& offset) {
            return x.locate(as_uint(offset, "offset"));
          },
          py::arg("offset"))
      .def(
          "span",
          [](const qltx::Index& x, const py::object& offset, const py::object& length) {
            return x.span(as_uint(offset, "offset"), as_uint(length, "length"));
          },
          py::arg("offset"), py::arg("length"))
      .def("__repr__", [](const qltx::Index& x) {
        return "<Index num_blocks=" + std::to_string(x.num_blocks()) +
               " plaintext_size=" + std::to_string(x.plaintext_size()) +
               " uniform=" + (x.uniform() ? "True" : "False") + ">";
      });

  m.def(
      "decode_footer_head",
      [](const py::buffer& buf) {
        qltx::FooterHead f = qltx::decode_footer_head(BufferView(buf, false, "buf").bytes());
        return py::make_tuple(f.num_blocks, f.plaintext_size, f.info_size, to_bytes(f.mac));
      },
      py::arg("buf"));
  m.def(
      "decode_footer",
      [](const py::buffer& buf, const py::object& block_size, const py::object& footer_offset) {
        const uint64_t bs = as_uint(block_size, "block_size");
        const uint64_t fo = as_uint(footer_offset, "footer_offset");
        BufferView b(buf, false, "buf");
        py::gil_scoped_release nogil;  // up to 2^31 entries to check
        return qltx::decode_footer(b.bytes(), bs, fo);
      },
      py::arg("buf"), py::arg("block_size"), py::arg("footer_offset"));
  m.def(
      "encode_footer",
      [](const py::iterable& entries, const py::object& plaintext_size, const py::buffer& info,
         const py::buffer& mac) {
        const std::vector<qltx::Entry> es = entries_from_python(entries);
        BufferView iv(info, false, "info");
        BufferView mv(mac, false, "mac");
        qltx::Bytes out = qltx::encode_footer(es, as_uint(plaintext_size, "plaintext_size"),
                                              iv.bytes(), mv.bytes());
        return to_bytes(out);
      },
      py::arg("entries"), py::arg("plaintext_size"), py::arg("info"), py::arg("mac"));

  // ---- trailer ----
  py::class_<qltx::Trailer> trailer(m, "Trailer", "The last 24 bytes of a container.");
  int_field(trailer, "footer_offset", &qltx::Trailer::footer_offset);
  int_field(trailer, "footer_size", &qltx::Trailer::footer_size);
  trailer.def("__repr__", [](const qltx::Trailer& t) {
    return "<Trailer footer_offset=" + std::to_string(t.footer_offset) +
           " footer_size=" + std::to_string(t.footer_size) + ">";
  });
  // version: the container's (its footer's size and place bounds differ), 6.0 by default.
  m.def(
      "encode_trailer",
      [](const py::object& footer_offset, const py::object& footer_size, const py::object& version) {
        const uint64_t fo = as_uint(footer_offset, "footer_offset");
        const uint64_t fs = as_uint(footer_size, "footer_size");
        return to_bytes(trailer_version(version) == qltx::VERSION_6_1 ? qltx::encode_trailer61(fo, fs)
                                                                      : qltx::encode_trailer(fo, fs));
      },
      py::arg("footer_offset"), py::arg("footer_size"), py::arg("version") = qltx::VERSION_6_0);
  m.def(
      "decode_trailer",
      [](const py::buffer& buf, const py::object& container_size, const py::object& version) {
        const uint64_t cs = as_uint(container_size, "container_size");
        const qltx::ByteView b = BufferView(buf, false, "buf").bytes();
        return trailer_version(version) == qltx::VERSION_6_1 ? qltx::decode_trailer61(b, cs)
                                                             : qltx::decode_trailer(b, cs);
      },
      py::arg("buf"), py::arg("container_size"), py::arg("version") = qltx::VERSION_6_0);
}

}  // namespace bind
}  // namespace qltx
