// Bindings of format 6.1 (cpp/format61.hpp): header, keyring copies, index pages, top table.
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "bind.hpp"
#include "convert.hpp"
#include "format61.hpp"

namespace qltx {
namespace bind {

namespace {

// A top-table entry: (ofs_page, ofs_plaintext, hash); `k` names the page in errors.
qltx::TopEntry top_entry_from_python(const py::handle& item, size_t k) {
  const std::string where = "page " + std::to_string(k);
  if (!py::isinstance<py::sequence>(item) || py::isinstance<py::str>(item))
    throw py::type_error(where + ": expected a 3-tuple (ofs_page, ofs_plaintext, hash)");
  py::tuple t(py::reinterpret_borrow<py::sequence>(item));
  if (t.size() != 3) throw py::value_error(where + ": expected 3 fields, not " + std::to_string(t.size()));
  qltx::TopEntry e;
  e.ofs_page = as_uint(t[0], (where + " ofs_page").c_str());
  e.ofs_plaintext = as_uint(t[1], (where + " ofs_plaintext").c_str());
  hash_from_python(t[2], where, e.hash);
  return e;
}

}  // namespace

void bind_format61(py::module_& m) {
  m.attr("VERSION_6_0") = qltx::VERSION_6_0;
  m.attr("VERSION_6_1") = qltx::VERSION_6_1;
  m.attr("HEADER61_SIZE") = qltx::HEADER61_SIZE;
  m.attr("HEADER61_MAC_OFFSET") = qltx::HEADER61_MAC_OFFSET;
  m.attr("KEYRING_HEAD_SIZE") = qltx::KEYRING_HEAD_SIZE;
  m.attr("SLOT_SIZE") = qltx::SLOT_SIZE;
  m.attr("SLOT_BODY_MAX") = qltx::SLOT_BODY_MAX;
  m.attr("MIN_KEYRING_SLOTS") = qltx::MIN_KEYRING_SLOTS;
  m.attr("MAX_KEYRING_SLOTS") = qltx::MAX_KEYRING_SLOTS;
  m.attr("PAGE_HEAD_SIZE") = qltx::PAGE_HEAD_SIZE;
  m.attr("TOP_ENTRY_SIZE") = qltx::TOP_ENTRY_SIZE;
  m.attr("MIN_PAGE_SHIFT") = qltx::MIN_PAGE_SHIFT;
  m.attr("MAX_PAGE_SHIFT") = qltx::MAX_PAGE_SHIFT;
  m.attr("HASH_SHA256") = qltx::HASH_SHA256;
  m.attr("HASH_BLAKE3") = qltx::HASH_BLAKE3;
  m.attr("SLOT_EMPTY") = qltx::SLOT_EMPTY;
  m.attr("SLOT_RAW") = qltx::SLOT_RAW;
  m.attr("SLOT_ARGON2ID") = qltx::SLOT_ARGON2ID;
  m.attr("SLOT_SCRYPT") = qltx::SLOT_SCRYPT;
  m.attr("SLOT_X25519") = qltx::SLOT_X25519;
  py::dict body_sizes;
  for (uint8_t t : {qltx::SLOT_RAW, qltx::SLOT_ARGON2ID, qltx::SLOT_SCRYPT, qltx::SLOT_X25519})
    body_sizes[py::int_(t)] = qltx::slot_body_size(t);
  m.attr("SLOT_BODY_SIZES") = body_sizes;

  m.def(
      "header_version",
      [](const py::buffer& buf) { return qltx::header_version(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));

  // ---- header ----
  py::class_<qltx::Header61> header(m, "Header61", "The 256-byte header of format 6.1.");
  header.def(py::init<>());
  int_field(header, "cipher_id", &qltx::Header61::cipher_id);
  int_field(header, "index_hash", &qltx::Header61::index_hash);
  int_field(header, "block_hash", &qltx::Header61::block_hash);
  int_field(header, "page_shift", &qltx::Header61::page_shift);
  int_field(header, "flags", &qltx::Header61::flags);
  int_field(header, "block_size", &qltx::Header61::block_size);
  bytes_field(header, "container_id", &qltx::Header61::container_id);
  int_field(header, "keyring_slots", &qltx::Header61::keyring_slots);
  bytes_field(header, "key_commitment", &qltx::Header61::key_commitment);
  int_field(header, "num_blocks", &qltx::Header61::num_blocks);
  int_field(header, "plaintext_size", &qltx::Header61::plaintext_size);
  int_field(header, "footer_offset", &qltx::Header61::footer_offset);
  int_field(header, "footer_size", &qltx::Header61::footer_size);
  bytes_field(header, "header_mac", &qltx::Header61::header_mac);
  header.def_property_readonly("permuted", &qltx::Header61::permuted);
  header.def_property_readonly("streamed", &qltx::Header61::streamed);
  header.def_property_readonly("keyring_copy_size", &qltx::Header61::keyring_copy_size);
  header.def_property_readonly("data_offset", &qltx::Header61::data_offset);
  header.def_property_readonly("page_entries", [](const qltx::Header61& h) {
    // Python's shift: any u8 page_shift of an unchecked object gives a number, not UB.
    return py::int_(1).attr("__lshift__")(py::int_(h.page_shift));
  });
  header.def("__repr__", [](const qltx::Header61& h) {
    return "<Header61 cipher_id=" + std::to_string(h.cipher_id) +
           " index_hash=" + std::to_string(h.index_hash) + " block_hash=" + std::to_string(h.block_hash) +
           " page_shift=" + std::to_string(h.page_shift) + " flags=" + std::to_string(h.flags) +
           " block_size=" + std::to_string(h.block_size) + " container_id=" + hex_prefix(h.container_id) +
           " keyring_slots=" + std::to_string(h.keyring_slots) +
           " num_blocks=" + std::to_string(h.num_blocks) +
           " plaintext_size=" + std::to_string(h.plaintext_size) +
           " footer_offset=" + std::to_string(h.footer_offset) +
           " footer_size=" + std::to_string(h.footer_size) + ">";
  });
  m.def(
      "encode_header61", [](const qltx::Header61& h) { return to_bytes(qltx::encode_header61(h)); },
      py::arg("h"));
  m.def(
      "decode_header61",
      [](const py::buffer& buf) { return qltx::decode_header61(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));
  m.def(
      "header61_mac_input",
      [](const py::buffer& buf) { return to_bytes(qltx::header61_mac_input(BufferView(buf, false, "buf").bytes())); },
      py::arg("buf"));

  // ---- keyring copy ----
  m.def(
      "encode_keyring_copy",
      [](const py::object& num_slots, const py::object& generation, const py::iterable& slots,
         const py::buffer& mac) {
        const uint32_t n = static_cast<uint32_t>(as_uint(num_slots, "num_slots", qltx::MAX_KEYRING_SLOTS));
        std::vector<qltx::Slot> ss;
        for (const py::handle item : slots) {
          const std::string where = "slot " + std::to_string(ss.size());
          if (ss.size() >= n) throw py::value_error("more than " + std::to_string(n) + " slots");
          if (!py::isinstance<py::sequence>(item) || py::isinstance<py::str>(item))
            throw py::type_error(where + ": expected a (slot_type, body) pair");
          py::tuple t(py::reinterpret_borrow<py::sequence>(item));
          if (t.size() != 2) throw py::value_error(where + ": expected (slot_type, body)");
          qltx::Slot s;
          s.type = static_cast<uint8_t>(as_uint(t[0], (where + " slot_type").c_str(), 255));
          if (!PyObject_CheckBuffer(t[1].ptr())) throw py::type_error(where + ": body must be bytes");
          BufferView body(t[1], false, "body");
          s.body.assign(body.data(), body.data() + body.size());
          ss.push_back(std::move(s));
        }
        BufferView mv(mac, false, "mac");
        return to_bytes(qltx::encode_keyring_copy(n, as_uint(generation, "generation"), ss, mv.bytes()));
      },
      py::arg("num_slots"), py::arg("generation"), py::arg("slots"), py::arg("mac"));
  m.def(
      "decode_keyring_copy",
      [](const py::buffer& buf, const py::object& num_slots) {
        const uint64_t n = as_uint(num_slots, "num_slots");
        qltx::check_keyring_slots_arg(n);
        const qltx::KeyringCopy k =
            qltx::decode_keyring_copy(BufferView(buf, false, "buf").bytes(), static_cast<uint32_t>(n));
        py::list slots;
        for (const qltx::Slot& s : k.slots) slots.append(py::make_tuple(s.type, to_bytes(s.body)));
        return py::make_tuple(k.generation, slots, to_bytes(k.mac));
      },
      py::arg("buf"), py::arg("num_slots"));

  // ---- index pages ----
  py::class_<qltx::Page>(m, "Page", "One decoded and validated index page of format 6.1.")
      .def_property_readonly("first_block", &qltx::Page::first_block)
      .def_property_readonly("plain_offset", &qltx::Page::plain_offset)
      .def_property_readonly("block_offset", &qltx::Page::block_offset)
      .def_property_readonly("plain_end", &qltx::Page::plain_end)
      .def_property_readonly("block_end", &qltx::Page::block_end)
      .def("__len__", &qltx::Page::size)
      .def(
          "__getitem__",
          [](const qltx::Page& p, const py::object& j) {
            return p.entry(static_cast<uint32_t>(seq_index(j, p.size(), "entry index")));
          },
          py::arg("j"))
      .def(
          "locate",
          [](const qltx::Page& p, const py::object& offset) {
            const uint64_t o = as_uint(offset, "offset");
            if (o < p.plain_offset() || o >= p.plain_end())
              throw py::index_error("offset " + std::to_string(o) + " is outside the page's plaintext");
            return p.locate(o);
          },
          py::arg("offset"))
      .def("__repr__", [](const qltx::Page& p) {
        return "<Page first_block=" + std::to_string(p.first_block()) + " entries=" + std::to_string(p.size()) +
               " plain=" + std::to_string(p.plain_offset()) + ".." + std::to_string(p.plain_end()) + ">";
      });
  m.def(
      "encode_page",
      [](const py::object& first_block, const py::iterable& entries) {
        return to_bytes(qltx::encode_page(as_uint(first_block, "first_block"), entries_from_python(entries)));
      },
      py::arg("first_block"), py::arg("entries"));
  m.def(
      "decode_page",
      [](const py::buffer& buf, const py::object& first_block, const py::object& num_entries,
         const py::object& block_size, const py::object& plain_offset, const py::object& block_offset,
         bool last) {
        const uint64_t fb = as_uint(first_block, "first_block");
        const uint64_t ne = as_uint(num_entries, "num_entries", qltx::MAX_PAGE_ENTRIES);
        const uint64_t bs = as_uint(block_size, "block_size");
        const uint64_t po = as_uint(plain_offset, "plain_offset");
        const uint64_t bo = as_uint(block_offset, "block_offset");
        BufferView b(buf, false, "buf");
        py::gil_scoped_release nogil;  // up to 65536 entries to check
        return qltx::decode_page(b.bytes(), fb, static_cast<uint32_t>(ne), bs, po, bo, last);
      },
      py::arg("buf"), py::arg("first_block"), py::arg("num_entries"), py::arg("block_size"),
      py::arg("plain_offset"), py::arg("block_offset"), py::arg("last"));

  // ---- footer 6.1 ----
  py::class_<qltx::PageRef>(m, "PageRef", "Where one index page is, from the footer's top table.")
      .def_readonly("index", &qltx::PageRef::index)
      .def_readonly("ofs_page", &qltx::PageRef::ofs_page)
      .def_readonly("len_page", &qltx::PageRef::len_page)
      .def_readonly("ofs_plaintext", &qltx::PageRef::ofs_plaintext)
      .def_readonly("plain_end", &qltx::PageRef::plain_end)
      .def_readonly("first_block", &qltx::PageRef::first_block)
      .def_readonly("num_entries", &qltx::PageRef::num_entries)
      .def_readonly("block_offset", &qltx::PageRef::block_offset)
      .def_property_readonly("hash", [](const qltx::PageRef& r) { return to_bytes(r.hash); })
      .def_readonly("last", &qltx::PageRef::last)
      .def("__repr__", [](const qltx::PageRef& r) {
        return "<PageRef index=" + std::to_string(r.index) + " ofs_page=" + std::to_string(r.ofs_page) +
               " first_block=" + std::to_string(r.first_block) + " num_entries=" +
               std::to_string(r.num_entries) + " plain=" + std::to_string(r.ofs_plaintext) + ".." +
               std::to_string(r.plain_end) + (r.last ? " last" : "") + ">";
      });
  py::class_<qltx::TopTable>(m, "TopTable", "The decoded and validated footer of format 6.1.")
      .def_property_readonly("num_blocks", &qltx::TopTable::num_blocks)
      .def_property_readonly("plaintext_size", &qltx::TopTable::plaintext_size)
      .def_property_readonly("info_size", &qltx::TopTable::info_size)
      .def_property_readonly("mac", [](const qltx::TopTable& t) { return to_bytes(t.mac()); })
      .def_property_readonly("num_pages", &qltx::TopTable::num_pages)
      .def_property_readonly("page_shift", &qltx::TopTable::page_shift)
      .def_property_readonly("page_entries", &qltx::TopTable::page_entries)
      .def("__len__", &qltx::TopTable::num_pages)
      .def(
          "page",
          [](const qltx::TopTable& t, const py::object& k) { return t.page(seq_index(k, t.num_pages(), "page index")); },
          py::arg("k"))
      .def(
          "locate",
          [](const qltx::TopTable& t, const py::object& offset) {
            return t.locate(below(offset, t.plaintext_size(), "offset"));
          },
          py::arg("offset"))
      .def(
          "span",
          [](const qltx::TopTable& t, const py::object& offset, const py::object& length) {
            return t.span(as_uint(offset, "offset"), as_uint(length, "length"));
          },
          py::arg("offset"), py::arg("length"))
      .def(
          "block_page",
          [](const qltx::TopTable& t, const py::object& i) { return t.block_page(below(i, t.num_blocks(), "block")); },
          py::arg("i"))
      .def("__repr__", [](const qltx::TopTable& t) {
        return "<TopTable num_blocks=" + std::to_string(t.num_blocks()) + " plaintext_size=" +
               std::to_string(t.plaintext_size()) + " num_pages=" + std::to_string(t.num_pages()) + ">";
      });
  m.def(
      "decode_footer61_head",
      [](const py::buffer& buf) {
        const qltx::Footer61Head f = qltx::decode_footer61_head(BufferView(buf, false, "buf").bytes());
        return py::make_tuple(f.num_blocks, f.plaintext_size, f.info_size, f.num_pages, to_bytes(f.mac));
      },
      py::arg("buf"));
  m.def(
      "decode_footer61",
      [](const py::buffer& buf, const py::object& page_shift, const py::object& block_size,
         const py::object& data_offset, const py::object& footer_offset) {
        const uint64_t ps = as_uint(page_shift, "page_shift");
        qltx::check_page_shift_arg(ps);
        const uint64_t bs = as_uint(block_size, "block_size");
        const uint64_t dof = as_uint(data_offset, "data_offset");
        const uint64_t fo = as_uint(footer_offset, "footer_offset");
        BufferView b(buf, false, "buf");
        py::gil_scoped_release nogil;  // up to 2^25 pages to check
        return qltx::decode_footer61(b.bytes(), static_cast<unsigned>(ps), bs, dof, fo);
      },
      py::arg("buf"), py::arg("page_shift"), py::arg("block_size"), py::arg("data_offset"),
      py::arg("footer_offset"));
  m.def(
      "encode_footer61",
      [](const py::object& num_blocks, const py::object& plaintext_size, const py::iterable& pages,
         const py::buffer& info, const py::buffer& mac) {
        std::vector<qltx::TopEntry> ps;
        for (const py::handle item : pages) {
          if (ps.size() >= 0xffffffffu) throw py::value_error("more than 2^32 - 1 pages");
          ps.push_back(top_entry_from_python(item, ps.size()));
        }
        BufferView iv(info, false, "info");
        BufferView mv(mac, false, "mac");
        return to_bytes(qltx::encode_footer61(as_uint(num_blocks, "num_blocks"),
                                              as_uint(plaintext_size, "plaintext_size"), ps, iv.bytes(),
                                              mv.bytes()));
      },
      py::arg("num_blocks"), py::arg("plaintext_size"), py::arg("pages"), py::arg("info"), py::arg("mac"));
}

}  // namespace bind
}  // namespace qltx
