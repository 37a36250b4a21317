-- Why a message did not go out: a stable code (API.md "Messages": bad_address, blocked_target, …).
ALTER TABLE messages ADD COLUMN reason TEXT;
