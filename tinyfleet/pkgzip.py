"""The ZIP layer of the model package: the whole archive layout is checked before a member is read.

A package is written in one canonical form (``tinyfleet.package``): every member *stored* (no
compression), no extra fields, no data descriptors, members back to back from offset 0 in a fixed
order, and the central directory right after the last one. :class:`StoredArchive` holds a reader to
exactly that form, from the central directory alone:

- at most :data:`MAX_MEMBERS` entries, unique names of the member alphabet, the head members first
  and the artifacts sorted after them;
- every entry stored (so its declared size *is* its size in the file: the compression ratio is
  bounded by 1 and nothing is ever inflated), unencrypted, without data descriptor or extra field;
- each local header exactly where the previous member ended, so no two entries overlap (the
  many-entries-one-payload "zip bomb", CVE-2024-0450) and the declared sizes add up to at most the
  file's size.

A member is then a slice of the file's bytes (bounded by the checked layout, and by a cap the caller
gives), checked against its CRC-32. Any deviation raises :class:`~tinyfleet.errors.PackageError`.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

from tinyfleet.errors import PackageError

__all__ = ["MAX_MEMBERS", "Member", "StoredArchive"]

MAX_MEMBERS = 32  # 4 head members and the artifacts; a real package has 6
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header: signature .. name length, extra length
_LOCAL_SIG = b"PK\x03\x04"
_END = struct.Struct("<4s4H2LH")  # end of central directory: .., entries total, size, offset, comment length
_END_SIG = b"PK\x05\x06"


@dataclass(frozen=True)
class Member:
    name: str
    start: int  # offset of the member's bytes in the file
    size: int
    crc: int


class StoredArchive:
    """The checked layout of a canonical package; ``read`` gives one member's bytes."""

    def __init__(self, raw: bytes, head: tuple[str, ...], name_re: re.Pattern[str]) -> None:
        self.raw = raw
        # the end record first: a canonical package ends in it (no comment), and its entry count
        # bounds what the central directory parse below may cost
        if len(raw) < _END.size:
            raise PackageError("not a valid model package (too short)")
        end = _END.unpack_from(raw, len(raw) - _END.size)
        if end[0] != _END_SIG or end[7] != 0:
            raise PackageError("not a valid model package (no end record, or bytes after it)")
        if end[4] > MAX_MEMBERS:
            raise PackageError(f"package has {end[4]} members (at most {MAX_MEMBERS})")
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:  # parses the central directory only
                infos = zf.infolist()
                directory_start = int(zf.start_dir)
        except zipfile.BadZipFile as exc:
            raise PackageError(f"not a valid model package ({exc})") from None
        except Exception as exc:  # zipfile raises assorted errors on hostile input  # noqa: BLE001
            raise PackageError(f"not a valid model package ({type(exc).__name__})") from None
        if len(infos) > MAX_MEMBERS:
            raise PackageError(f"package has {len(infos)} members (at most {MAX_MEMBERS})")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise PackageError("package has duplicate members")
        rest = names[len(head) :]
        if (
            tuple(names[: len(head)]) != head
            or rest != sorted(rest)
            or not all(name_re.fullmatch(n) for n in names)
        ):
            raise PackageError("package members are missing or misnamed")
        self.members: dict[str, Member] = {}
        at = 0
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise PackageError(f"package member {info.filename} is compressed")
            if info.flag_bits & ~0x800 or info.extra:  # only the UTF-8 name flag is ever set
                raise PackageError(f"package member {info.filename} has flags or extra fields")
            if info.header_offset != at:
                raise PackageError(f"package member {info.filename} overlaps another or leaves a gap")
            start = at + _LOCAL.size + len(info.filename.encode("utf-8"))
            if start > len(raw):
                raise PackageError("package is truncated")
            fields = _LOCAL.unpack_from(raw, at)
            if fields[0] != _LOCAL_SIG or fields[9] != len(info.filename.encode("utf-8")) or fields[10] != 0:
                raise PackageError(f"package member {info.filename} has a damaged local header")
            if raw[at + _LOCAL.size : start] != info.filename.encode("utf-8"):
                raise PackageError(f"package member {info.filename} has a damaged local header")
            at = start + info.file_size
            if at > directory_start:
                raise PackageError(f"package member {info.filename} runs into the central directory")
            self.members[info.filename] = Member(info.filename, start, info.file_size, info.CRC)
        if at != directory_start:
            raise PackageError("package has bytes between its members and the central directory")

    @property
    def names(self) -> list[str]:
        return list(self.members)

    def size(self, name: str) -> int:
        return self.members[name].size

    def read(self, name: str, cap: int | None = None) -> bytes:
        """The member's bytes (never more than ``cap``), checked against their CRC-32."""
        m = self.members[name]
        if cap is not None and m.size > cap:
            raise PackageError(f"package member {name} has {m.size} bytes (at most {cap})")
        data = self.raw[m.start : m.start + m.size]
        if zlib.crc32(data) != m.crc:
            raise PackageError(f"package is damaged or was modified: {name} fails its checksum")
        return data
