// relay::provider::m365 — the shared plumbing under its m365 names.
//
// The m365 adapter is built on the HTTPS requests, OAuth token cache, codecs
// and MIME preparation it shares with the gmail adapter
// (dispatcher/providers/cloud/). These using-declarations let the m365
// sources name them as m365::Request, m365::TokenCache, ... without a
// second copy. Nothing else lives here.
#pragma once
#include "dispatcher/providers/cloud/codec.hpp"
#include "dispatcher/providers/cloud/http.hpp"
#include "dispatcher/providers/cloud/mime_prepare.hpp"
#include "dispatcher/providers/cloud/token_cache.hpp"

namespace relay::provider::m365 {

using cloud::base64;
using cloud::base64_decode;
using cloud::base64url;

using cloud::cancel_all;
using cloud::HttpOptions;
using cloud::parse_retry_after;
using cloud::perform;
using cloud::Request;
using cloud::Response;
using cloud::ResponseFn;
using cloud::Tracker;
using cloud::trim_slash;
using cloud::url_escape;

using cloud::Clock;
using cloud::FetchDone;
using cloud::Fetcher;
using cloud::FetchResult;
using cloud::parse_token_error;
using cloud::TokenCache;
using cloud::TokenError;
using cloud::TokenResult;

using cloud::extract_addresses;
using cloud::load_and_prepare;
using cloud::Loaded;
using cloud::prepare;
using cloud::Prepared;
using cloud::PrepareInput;

}  // namespace relay::provider::m365
