-- The Dropbox account a member the bridge invited was last listed under, once the folder lists
-- them as a user: an account whose owner changes its e-mail is still known as that member.
ALTER TABLE group_members_added ADD COLUMN account_id TEXT;
