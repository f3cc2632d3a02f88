// See message_info.hpp.
#include "dispatcher/message_info.hpp"

#include <fcntl.h>
#include <gmime/gmime.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

namespace relay::dispatch {
namespace {

// Owner of a GObject reference (STYLE.md 8).
struct Unref {
  void operator()(void* p) const noexcept {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, Unref>;

std::string first_address(InternetAddressList* list) {
  if (!list) return "";
  for (int i = 0; i < internet_address_list_length(list); ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
      if (addr && *addr) return addr;
    } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
      std::string inner = first_address(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
      if (!inner.empty()) return inner;
    }
  }
  return "";
}

std::string list_text(InternetAddressList* list) {
  if (!list || internet_address_list_length(list) == 0) return "";
  char* s = internet_address_list_to_string(list, nullptr, FALSE);
  std::string out = s ? s : "";
  g_free(s);
  return out;
}

void count_parts(GMimeMessage* msg, MessageInfo* info) {
  GMimePartIter* iter = g_mime_part_iter_new(GMIME_OBJECT(msg));
  // The iterator walks every part below the top; count leaves only.
  do {
    GMimeObject* part = g_mime_part_iter_get_current(iter);
    if (!part || GMIME_IS_MULTIPART(part) || GMIME_IS_MESSAGE_PART(part)) continue;
    ++info->parts;
    const char* disp = g_mime_object_get_disposition(part);
    const char* name = GMIME_IS_PART(part) ? g_mime_part_get_filename(GMIME_PART(part)) : nullptr;
    if ((disp && g_ascii_strcasecmp(disp, "attachment") == 0) || (name && *name)) ++info->attachments;
  } while (g_mime_part_iter_next(iter));
  g_mime_part_iter_free(iter);
  if (info->parts == 0) info->parts = 1;  // a single-part message iterates nothing below the top
}

bool is_delivery_report(GMimeMessage* msg) {
  GMimeObject* top = g_mime_message_get_mime_part(msg);
  GMimeContentType* ct = top ? g_mime_object_get_content_type(top) : nullptr;
  if (!ct || !g_mime_content_type_is_type(ct, "multipart", "report")) return false;
  const char* type = g_mime_content_type_get_parameter(ct, "report-type");
  return type && (g_ascii_strcasecmp(type, "delivery-status") == 0 ||
                  g_ascii_strcasecmp(type, "global-delivery-status") == 0);
}

}  // namespace

void gmime_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

MessageInfo inspect_message(const std::filesystem::path& eml) {
  MessageInfo info;
  int fd = ::open(eml.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    info.error = "open " + eml.filename().string() + ": " + std::strerror(errno);
    return info;
  }
  GPtr<GMimeStream> stream(g_mime_stream_fs_new(fd));  // owns fd
  if (g_mime_stream_length(stream.get()) <= 0) {
    info.error = "empty message";
    return info;
  }
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) {
    info.error = "GMime cannot parse the message";
    return info;
  }
  if (!g_mime_object_get_header_list(GMIME_OBJECT(msg.get())) ||
      g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg.get()))) == 0) {
    info.error = "message has no header block";
    return info;
  }
  InternetAddressList* from = g_mime_message_get_from(msg.get());
  info.from = list_text(from);
  info.from_address = first_address(from);
  const char* subject = g_mime_message_get_subject(msg.get());
  info.subject = subject ? subject : "";
  const char* mid = g_mime_message_get_message_id(msg.get());
  info.message_id = mid ? mid : "";
  count_parts(msg.get(), &info);
  info.is_dsn = is_delivery_report(msg.get());
  info.parsed = true;
  return info;
}

}  // namespace relay::dispatch
