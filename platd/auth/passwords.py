"""Password hashing: argon2id (argon2-cffi), in the PHC string form that carries its own
parameters, so raising the cost later still verifies the old hashes (and rehashes them).

Passwords are low-entropy secrets, unlike tokens: they need a slow, memory-hard hash. The
parameters are argon2-cffi's defaults (RFC 9106's second recommendation, 64 MiB, 3 passes).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from platd.spec.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing is costly: a megabyte "password" must not be

_hasher = PasswordHasher()


def check_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"the password is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password is too long: use at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify_password(stored: str, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so an unknown name takes as long to
# refuse as a wrong password (no user enumeration by timing). Written out, not hashed at import:
# that cost ~75 ms of every platd start. Its parameters must stay the hasher's (a test holds it).
DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$OOHEX3mkCG/wN1pXMPG+nQ$"
              "BSZa5UW9T5r/IvPPF98qc0VslM0msvlRc5l/HHcttMQ")
