-- etcd v2 write, as conftool sends it: PUT value=x as a form body.
-- BENCH_AUTHORIZATION, when set, is the whole Authorization header value
-- ("Basic ..."), so one script serves the auth, wrong-password and open rows.
wrk.method = "PUT"
wrk.body = "value=x"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
