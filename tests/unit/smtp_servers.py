#!/usr/bin/python3
"""
smtp_servers.py - SMTP servers for tests/unit/test_smtp.c.

test_smtp.c starts one of these per test, reads "ready PORT" from its stdout,
talks SMTP to 127.0.0.1:PORT and stops it with SIGTERM (it also exits when
its stdin reaches end of file, so a crashed test leaves no server behind).
The port is picked by the kernel (bind to port 0), so parallel runs never
collide.

  smtp_servers.py aiosmtpd [--tls CERT KEY] [--require-tls]
                           [--auth USER:PASS] [--auth-optional] [--dir DIR]
      A real ESMTP server: Debian's python3-aiosmtpd.  --tls offers STARTTLS
      with CERT/KEY; --require-tls refuses mail before STARTTLS; --auth
      offers AUTH PLAIN/LOGIN (after STARTTLS when --tls is given, else over
      plain text) and accepts only USER:PASS; mail without AUTH is refused
      with 530 unless --auth-optional.

  smtp_servers.py raw [--chunking] [--drop-in-data N] [--silent] [--dir DIR]
      A small hand-written server for what aiosmtpd cannot do: --chunking
      advertises CHUNKING and takes BDAT (RFC 3030); --drop-in-data N closes
      the connection once N octets of message data have arrived (a server
      dying mid-DATA); --silent accepts connections and never says a word
      (greeting timeout).

The recipient's local part picks the answer in both servers, so one session
can carry every outcome:
  rcpt451...  451 to RCPT TO          rcpt550...  550 to RCPT TO
  data451...  451 after the data      data554...  554 after the data
  anything else is accepted (250).

With --dir, the server keeps DIR/connections (the number of TCP connections
accepted so far) and, per accepted message, DIR/msg-NNN.eml (the data as
received, dot-stuffing undone) and DIR/msg-NNN.env ("from\\nrcpt\\nvia\\n",
via being DATA or BDAT); with --tls also DIR/sni, the last TLS server name
the client sent.
"""
import asyncio
import logging
import os
import signal
import ssl
import sys

STATE = {"dir": None, "connections": 0, "messages": 0}


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def count_connection():
    STATE["connections"] += 1
    if STATE["dir"]:
        _write_atomic(os.path.join(STATE["dir"], "connections"),
                      b"%d\n" % STATE["connections"])


def store_message(mail_from, rcpts, content, via):
    STATE["messages"] += 1
    if not STATE["dir"]:
        return
    base = os.path.join(STATE["dir"], "msg-%03d" % STATE["messages"])
    _write_atomic(base + ".eml", content)
    env = "%s\n%s\n%s\n" % (mail_from, ",".join(rcpts), via)
    _write_atomic(base + ".env", env.encode())


def rcpt_reply(address):
    local = address.split("@")[0].lower()
    if local.startswith("rcpt451"):
        return "451 4.2.1 Mailbox busy, try later"
    if local.startswith("rcpt550"):
        return "550 5.1.1 No such user here"
    return None


def data_reply(rcpts):
    for a in rcpts:
        local = a.split("@")[0].lower()
        if local.startswith("data451"):
            return "451 4.3.0 Queue full, try later"
        if local.startswith("data554"):
            return "554 5.6.0 Content rejected"
    return None


# --- aiosmtpd -----------------------------------------------------------------

def run_aiosmtpd(args):
    try:
        from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
    except ImportError as e:
        print("error: aiosmtpd is missing (apt-get install python3-aiosmtpd): %s" % e,
              flush=True)
        sys.exit(2)

    tls_ctx = None
    if args.get("tls"):
        cert, key = args["tls"]
        tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_ctx.load_cert_chain(cert, key)

        def sni(sslobj, server_name, ctx):
            if STATE["dir"] and server_name:
                _write_atomic(os.path.join(STATE["dir"], "sni"), server_name.encode())
        tls_ctx.sni_callback = sni

    user_pass = None
    if args.get("auth"):
        u, _, p = args["auth"].partition(":")
        user_pass = (u.encode(), p.encode())

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and (auth_data.login, auth_data.password) == user_pass)
        return AuthResult(success=ok, handled=False)

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, options):
            r = rcpt_reply(address)
            if r:
                return r
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

        async def handle_DATA(self, server, session, envelope):
            r = data_reply(envelope.rcpt_tos)
            if r:
                return r
            content = envelope.original_content or envelope.content
            store_message(envelope.mail_from, envelope.rcpt_tos, content, "DATA")
            return "250 2.0.0 OK queued"

    kw = dict(hostname="hark-test", decode_data=False, timeout=30)
    if tls_ctx:
        kw["tls_context"] = tls_ctx
        kw["require_starttls"] = bool(args.get("require_tls"))
    if user_pass:
        kw["authenticator"] = authenticator
        kw["auth_required"] = not args.get("auth_optional")
        kw["auth_require_tls"] = tls_ctx is not None

    def factory():
        count_connection()
        return SMTP(Handler(), **kw)

    serve(lambda loop: loop.create_server(factory, host="127.0.0.1", port=0))


# --- raw ----------------------------------------------------------------------

async def raw_session(reader, writer, args):
    count_connection()
    if args.get("silent"):
        await reader.read()          # say nothing until the client gives up
        writer.close()
        return
    drop_after = args.get("drop_in_data")
    chunking = args.get("chunking")

    async def say(line):
        writer.write(line.encode() + b"\r\n")
        await writer.drain()

    await say("220 hark-test raw ESMTP")
    mail_from, rcpts, chunks, got = None, [], [], 0
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = line.decode("latin-1").rstrip("\r\n")
        verb = cmd.split(" ", 1)[0].upper()
        if verb == "EHLO":
            caps = ["250-hark-test", "250-PIPELINING", "250-8BITMIME"]
            if chunking:
                caps.append("250-CHUNKING")
            caps.append("250 SIZE 50000000")
            await say("\r\n".join(caps))
        elif verb == "HELO":
            await say("250 hark-test")
        elif verb == "MAIL":
            mail_from, rcpts, chunks, got = cmd[10:].split(">")[0].lstrip("<"), [], [], 0
            await say("250 2.1.0 OK")
        elif verb == "RCPT":
            addr = cmd[8:].split(">")[0].lstrip("<")
            r = rcpt_reply(addr)
            if r:
                await say(r)
            else:
                rcpts.append(addr)
                await say("250 2.1.5 OK")
        elif verb == "DATA":
            if not rcpts:
                await say("554 5.5.1 No valid recipients")
                continue
            await say("354 End data with <CR><LF>.<CR><LF>")
            body = []
            while True:
                dl = await reader.readline()
                if not dl:
                    writer.close()
                    return
                got += len(dl)
                if drop_after is not None and got >= drop_after:
                    writer.transport.abort()     # RST: the server died
                    return
                if dl == b".\r\n":
                    break
                body.append(dl[1:] if dl.startswith(b".") else dl)
            r = data_reply(rcpts)
            if r:
                await say(r)
            else:
                store_message(mail_from, rcpts, b"".join(body), "DATA")
                await say("250 2.0.0 OK queued")
        elif verb == "BDAT" and chunking:
            parts = cmd.split()
            size = int(parts[1])
            last = len(parts) > 2 and parts[2].upper() == "LAST"
            data = await reader.readexactly(size) if size else b""
            got += size
            if drop_after is not None and got >= drop_after:
                writer.transport.abort()
                return
            chunks.append(data)
            if not last:
                await say("250 2.0.0 %d octets received" % size)
            elif not rcpts:
                await say("554 5.5.1 No valid recipients")
            else:
                r = data_reply(rcpts)
                if r:
                    await say(r)
                else:
                    store_message(mail_from, rcpts, b"".join(chunks), "BDAT")
                    await say("250 2.0.0 OK queued")
        elif verb == "RSET":
            mail_from, rcpts, chunks, got = None, [], [], 0
            await say("250 2.0.0 OK")
        elif verb == "NOOP":
            await say("250 2.0.0 OK")
        elif verb == "QUIT":
            await say("221 2.0.0 Bye")
            break
        else:
            await say("502 5.5.2 Command not implemented")
    writer.close()


def run_raw(args):
    async def handle(reader, writer):
        try:
            await raw_session(reader, writer, args)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
    serve(lambda loop: asyncio.start_server(handle, host="127.0.0.1", port=0))


# --- common -------------------------------------------------------------------

def serve(make_server):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(make_server(loop))
    port = server.sockets[0].getsockname()[1]
    # Stop hard: finishing asyncio and aiosmtpd cleanly while a client is
    # half-way through TLS can hang.  Files are written atomically, so there
    # is nothing to flush.
    loop.add_signal_handler(signal.SIGTERM, os._exit, 0)
    loop.add_signal_handler(signal.SIGINT, os._exit, 0)

    def stdin_ready():
        try:
            if os.read(0, 4096):
                return
        except OSError:
            pass
        os._exit(0)
    try:
        import stat
        if stat.S_ISFIFO(os.fstat(0).st_mode):
            loop.add_reader(0, stdin_ready)
    except (OSError, ValueError, PermissionError):
        pass                       # no stdin pipe: rely on SIGTERM
    print("ready %d" % port, flush=True)
    loop.run_forever()


def parse(argv):
    args = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--tls":
            args["tls"] = (argv[i + 1], argv[i + 2])
            i += 3
            continue
        if a in ("--auth", "--dir", "--drop-in-data"):
            args[a[2:].replace("-", "_")] = argv[i + 1]
            i += 2
            continue
        if a in ("--require-tls", "--auth-optional", "--chunking", "--silent"):
            args[a[2:].replace("-", "_")] = True
            i += 1
            continue
        raise SystemExit("smtp_servers.py: unknown option %s" % a)
    if "drop_in_data" in args:
        args["drop_in_data"] = int(args["drop_in_data"])
    return args


def main():
    logging.getLogger("mail.log").setLevel(logging.ERROR)   # aiosmtpd's chatter
    if len(sys.argv) < 2 or sys.argv[1] not in ("aiosmtpd", "raw"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    args = parse(sys.argv[2:])
    STATE["dir"] = args.get("dir")
    if sys.argv[1] == "aiosmtpd":
        run_aiosmtpd(args)
    else:
        run_raw(args)


if __name__ == "__main__":
    main()
