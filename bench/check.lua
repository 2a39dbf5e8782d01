-- wrk script: one permission check per request, about the subject http.sh granted page:1 to.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"subject":"%s","resource":"page:1","capability":"view"}', os.getenv("CHECK_SUBJECT"))
