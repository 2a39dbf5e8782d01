-- wrk script: sign-ins spread over 16 benchmark users (lockout allows only a few password checks
-- per account at once, as it must: 40 parallel guesses may run at most that many).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"email":"bench%d@example.com","password":"correct horse battery staple"}', n % 16)
  return wrk.format(nil, nil, nil, body)
end
