"""The SMTP provider's wire: smtplib's connection with a quicker mail transaction.

smtplib opens, secures and logs in the connection; `transact` replaces `sendmail` for one
message to one recipient, raising what `sendmail` raises (so the provider's handling of
replies stays smtplib's), and spends less of the sender's time between the server's
replies, which is time a busy server's other connections wait for:

- the message comes dot-stuffed (RFC 5321 4.5.2) from the compiled message
  (CompiledMime.build(..., smtp=True)), which stuffs its static parts once per issue:
  smtplib's multiline regex took 0.3-0.4 ms for a 35 kB newsletter, longer than
  building it;
- MAIL, RCPT and DATA written together where the server announces PIPELINING (RFC 2920),
  so a message takes two round trips instead of four; the message then follows in one
  write, its end-of-data line included;
- the envelope addresses written as given: they are addr-specs already
  (render.headers.address), and smtplib's quoteaddr parsed each one again.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence


class Transactions:
    """The quicker transaction, mixed into smtplib.SMTP and SMTP_SSL."""

    def transact(self, sender: str, to: str, data: bytes, options: Sequence[str] = ()) -> None:
        """Send one message to one recipient, as sendmail(sender, [to], message, options).

        data: the message as DATA carries it: dot-stuffed, ended by CRLF '.' CRLF.
        """
        self.ehlo_or_helo_if_needed()
        extensions = []  # as sendmail: none to a server that answered HELO only
        if self.does_esmtp:
            # RFC 1870 takes an estimate: the stuffed size is at most a few bytes over.
            size = [f"size={len(data)}"] if self.has_extn("size") else []
            extensions = [*size, *options]
        if any(option.lower() == "smtputf8" for option in extensions):
            if not self.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        mail = f"mail FROM:<{sender}>" + "".join(f" {option}" for option in extensions)
        commands = [mail, f"rcpt TO:<{to}>", "data"]
        for command in commands:
            if "\r" in command or "\n" in command:  # as smtplib's putcmd refuses them
                raise ValueError(f"command contains a line break: {command!r}")
        if self.has_extn("pipelining"):
            self.send("".join(f"{command}\r\n" for command in commands))
            replies = self._replies(len(commands))
        else:
            replies = []
            for command in commands:
                self.send(f"{command}\r\n")
                replies.append(self.getreply())
                if replies[-1][0] != (354 if command == "data" else 250):
                    break  # as sendmail: nothing more is asked after a refusal
        self._check_envelope(sender, to, replies)
        self.send(data)
        code, reply = self.getreply()
        if code != 250:
            self._refused(code)
            raise smtplib.SMTPDataError(code, reply)

    def _replies(self, count: int) -> list[tuple[int, bytes]]:
        """Read the replies to pipelined commands, stopping at a 421 (the server hangs up)."""
        replies = []
        for _ in range(count):
            replies.append(self.getreply())
            if replies[-1][0] == 421:
                break
        return replies

    def _check_envelope(self, sender: str, to: str, replies: list[tuple[int, bytes]]) -> None:
        """Raise what sendmail raises when MAIL, RCPT or DATA was refused."""
        (code, reply), rest = replies[0], replies[1:]
        data = replies[2] if len(replies) == 3 else None
        if code != 250:
            error: smtplib.SMTPException = smtplib.SMTPSenderRefused(code, reply, sender)
        elif rest[0][0] not in (250, 251):
            code = rest[0][0]
            error = smtplib.SMTPRecipientsRefused({to: rest[0]})
        elif data[0] != 354:
            code = data[0]
            error = smtplib.SMTPDataError(*data)
        else:
            return
        if data is not None and data[0] == 354:
            # A server that took DATA after refusing the envelope (RFC 2920 says it must
            # not) waits for a message: end it empty, with no recipient it goes nowhere.
            self.send(b".\r\n")
            self.getreply()
        self._refused(code)
        raise error

    def _refused(self, code: int) -> None:
        """Leave the session ready for the next message, as sendmail does."""
        if code == 421:  # the server is closing the session
            self.close()
        else:
            self._rset()


class Connection(Transactions, smtplib.SMTP):
    """A plain or STARTTLS connection."""


class SslConnection(Transactions, smtplib.SMTP_SSL):
    """An implicit-TLS connection."""
