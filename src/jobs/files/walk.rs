//! The walk: pages through the rooms (or the named folders) and everything below them, at most
//! [`WALK_CONCURRENCY`] listing calls at a time, plans each page as it arrives and hands the
//! plan to the caller's [`Sink`]. Nothing of the tree is kept: only the folder pages still to
//! list (ids and a start index, depth first) and the counts of the [`Summary`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};

use super::plan::{self, PagePlan, Skip};
use super::{Roots, Scope, Summary};
use crate::docspace::{DocSpaceError, FolderPage, RoomsArea, PAGE_SIZE};
use crate::jobs::{JobContext, JobError};
use crate::store::ExportRecord;

/// Listing calls in flight at once: eight of the ten DocSpace request slots, so that exports
/// and group syncs running meanwhile still get through.
pub const WALK_CONCURRENCY: usize = 8;

/// What a walk's caller does with each planned page, and how it follows progress.
pub trait Sink: Send {
    /// Acts on one page's plan (enqueue, print, export). An error stops the walk.
    fn page(&mut self, plan: &PagePlan) -> impl Future<Output = Result<(), JobError>> + Send;
    /// Called after each page with the counts so far.
    fn progress(&mut self, _summary: &Summary) {}
}

/// Times a listing of several pages is read again when it changed while it was read.
const RELISTS: u8 = 2;

#[derive(Debug, Clone)]
enum Task {
    /// A page of `files/rooms` (the "Rooms" section).
    Rooms { start: u32 },
    /// How many rooms are archived (`files/rooms` of the archive, one entry asked for).
    ArchivedRooms,
    /// A page of `files/{folderId}`; `named` for the first page of a folder named explicitly,
    /// `again` for the first page of a folder listed again ([`Pager`]).
    Folder {
        id: String,
        title: String,
        start: u32,
        named: bool,
        again: bool,
    },
}

/// A listing read in pages: the rooms, or one folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Listing {
    Rooms,
    Folder(String),
}

/// An entry of a listing: a folder or a file, whose ids DocSpace numbers apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Entry {
    Folder(String),
    File(String),
}

/// What to do once a page has been taken ([`Pager::take`]).
#[derive(Debug, PartialEq, Eq)]
enum Then {
    Go,
    /// Every page of the listing has been read, and it changed meanwhile: read it again.
    ListAgain,
}

/// The listings of several pages being read. DocSpace sorts a listing in its key user's saved
/// order, last modified first unless they chose another; naming an order (`sortBy`) would save
/// it as that user's default (`FileStorageService.GetFolderItemsAsync`), so the walk names none.
/// An entry added, changed or removed while the pages are read moves the entries after it up
/// or down by one, and one can slide onto a page already read and be missed. Such a shift shows
/// as a total that changed or as an entry on two pages of one reading; the listing is then read
/// again (at most [`RELISTS`] times), the entries already taken left out.
#[derive(Default)]
struct Pager {
    reading: HashMap<Listing, Reading>,
}

struct Reading {
    total: Option<u64>,
    /// Pages asked for and not taken yet.
    out: usize,
    /// Every entry taken, in any reading.
    taken: HashSet<Entry>,
    /// The entries of this reading.
    this: HashSet<Entry>,
    shifted: bool,
    relists: u8,
}

impl Pager {
    /// Takes the page of `listing` that started at `start`, after which `more` pages were asked
    /// for: leaves out of `page` the entries an earlier page of the listing had, and says whether
    /// the listing is to be read again.
    fn take(&mut self, listing: &Listing, start: u32, page: &mut FolderPage, more: usize) -> Then {
        let Some(r) = self.reading.get_mut(listing) else {
            if start == 0 && more > 0 {
                let entries: HashSet<Entry> = entries(page).collect();
                self.reading.insert(
                    listing.clone(),
                    Reading {
                        total: page.total,
                        out: more,
                        taken: entries.clone(),
                        this: entries,
                        shifted: false,
                        relists: 0,
                    },
                );
            }
            return Then::Go;
        };
        if start == 0 {
            // The first page of a reading again.
            r.total = page.total;
            r.out = more;
            r.this.clear();
            r.shifted = false;
        } else {
            r.out = (r.out + more).saturating_sub(1);
            r.shifted |= page.total != r.total;
        }
        let mut keep = |e: Entry| {
            r.shifted |= !r.this.insert(e.clone());
            r.taken.insert(e)
        };
        page.folders.retain(|f| keep(Entry::Folder(f.id.clone())));
        page.files.retain(|f| keep(Entry::File(f.id.clone())));
        if r.out > 0 {
            return Then::Go;
        }
        if r.shifted && r.relists < RELISTS {
            r.relists += 1;
            return Then::ListAgain;
        }
        if r.shifted {
            tracing::warn!(
                ?listing,
                "the listing kept changing while it was read; the next reconcile reads it again"
            );
        }
        self.reading.remove(listing);
        Then::Go
    }
}

fn entries(page: &FolderPage) -> impl Iterator<Item = Entry> + '_ {
    let folders = page.folders.iter().map(|f| Entry::Folder(f.id.clone()));
    folders.chain(page.files.iter().map(|f| Entry::File(f.id.clone())))
}

enum Failure {
    DocSpace(DocSpaceError),
    Job(JobError),
}

struct Listed {
    page: FolderPage,
    recorded: HashMap<String, ExportRecord>,
}

type Fetch<'a> = Pin<Box<dyn Future<Output = (Task, Result<Listed, Failure>)> + Send + 'a>>;

/// Lists one page and reads the exports recorded for its files.
async fn fetch(ctx: &JobContext, task: Task) -> (Task, Result<Listed, Failure>) {
    let listed = match &task {
        Task::Rooms { start } => {
            ctx.docspace
                .list_rooms_page(RoomsArea::Active, *start, PAGE_SIZE)
                .await
        }
        Task::ArchivedRooms => ctx.docspace.list_rooms_page(RoomsArea::Archive, 0, 1).await,
        Task::Folder { id, start, .. } => {
            ctx.docspace.list_folder_page(id, *start, PAGE_SIZE).await
        }
    };
    let page = match listed {
        Ok(p) => p,
        Err(e) => return (task, Err(Failure::DocSpace(e))),
    };
    let ids: Vec<String> = page.files.iter().map(|f| f.id.clone()).collect();
    let recorded = match ctx.store.exports_of(&ids).await {
        Ok(rows) => rows.into_iter().map(|r| (r.file_id.clone(), r)).collect(),
        Err(e) => return (task, Err(Failure::Job(e.into()))),
    };
    (task, Ok(Listed { page, recorded }))
}

/// Walks `scope`, planning every page and handing the plans to `sink`; the counts of the run.
pub async fn walk(
    ctx: &JobContext,
    scope: &Scope,
    sink: &mut impl Sink,
) -> Result<Summary, JobError> {
    let started = std::time::Instant::now();
    let mut summary = Summary::new(scope);
    let named_roots: &[String] = match &scope.roots {
        Roots::Folders(ids) => ids,
        Roots::Rooms => &[],
    };
    // Depth first (a stack): what waits is a path's siblings, not a whole level of the tree.
    let mut pending: Vec<Task> = match &scope.roots {
        Roots::Rooms => vec![Task::ArchivedRooms, Task::Rooms { start: 0 }],
        Roots::Folders(ids) => ids
            .iter()
            .rev()
            .map(|id| Task::Folder {
                id: id.clone(),
                title: String::new(),
                start: 0,
                named: true,
                again: false,
            })
            .collect(),
    };
    let mut pager = Pager::default();
    let mut in_flight: FuturesUnordered<Fetch<'_>> = FuturesUnordered::new();
    loop {
        while in_flight.len() < WALK_CONCURRENCY {
            let Some(task) = pending.pop() else { break };
            in_flight.push(Box::pin(fetch(ctx, task)));
        }
        let Some((task, result)) = in_flight.next().await else {
            break;
        };
        summary.pages += 1;
        match (task, result) {
            (Task::ArchivedRooms, Ok(listed)) => {
                let archived = listed
                    .page
                    .total
                    .unwrap_or(listed.page.folders.len() as u64);
                summary.skip_many(Skip::ArchivedRoom, archived);
            }
            (Task::ArchivedRooms, Err(Failure::DocSpace(e))) => {
                // Only a count for the report: the walk goes on without it.
                tracing::warn!(error = %e, "cannot count archived rooms");
            }
            (Task::Rooms { start }, Ok(listed)) => {
                let mut page = listed.page;
                let more: Vec<u32> = more_pages(&page, start).collect();
                if pager.take(&Listing::Rooms, start, &mut page, more.len()) == Then::ListAgain {
                    pending.push(Task::Rooms { start: 0 });
                }
                pending.extend(more.into_iter().map(|s| Task::Rooms { start: s }));
                for room in page.folders.into_iter().rev() {
                    pending.push(Task::Folder {
                        id: room.id,
                        title: room.title,
                        start: 0,
                        named: false,
                        again: false,
                    });
                }
            }
            (
                Task::Folder {
                    id,
                    title,
                    start,
                    named,
                    again,
                },
                Ok(listed),
            ) => {
                let mut page = listed.page;
                let title = match &page.current {
                    Some(c) if start == 0 => c.title.clone(),
                    _ => title,
                };
                if start == 0 && !again {
                    if named && plan::inside_another(&page.path, &id, named_roots) {
                        summary.skip_folder(&id, &title, Skip::InsideListedFolder, None);
                        continue;
                    }
                    if page.current.as_ref().is_some_and(|c| c.in_trash()) {
                        summary.skip_folder(&id, &title, Skip::Trash, None);
                        continue;
                    }
                    summary.folders_walked += 1;
                }
                let more: Vec<u32> = more_pages(&page, start).collect();
                let listing = Listing::Folder(id.clone());
                if pager.take(&listing, start, &mut page, more.len()) == Then::ListAgain {
                    pending.push(Task::Folder {
                        id: id.clone(),
                        title: title.clone(),
                        start: 0,
                        named: false,
                        again: true,
                    });
                }
                pending.extend(more.into_iter().map(|s| Task::Folder {
                    id: id.clone(),
                    title: title.clone(),
                    start: s,
                    named: false,
                    again: false,
                }));
                let plan = plan::plan_page(
                    &page,
                    &listed.recorded,
                    scope.since,
                    &ctx.config.export.root,
                );
                for sub in plan.descend.iter().rev() {
                    pending.push(Task::Folder {
                        id: sub.id.clone(),
                        title: sub.title.clone(),
                        start: 0,
                        named: false,
                        again: false,
                    });
                }
                sink.page(&plan).await?;
                summary.add(&plan);
            }
            // A key without the scope the listing needs is refused everywhere: that stops the
            // walk (below) rather than skipping every folder.
            (Task::Folder { id, title, .. }, Err(Failure::DocSpace(e)))
                if (e.status() == Some(403) && e.missing_scope().is_none()) || e.is_not_found() =>
            {
                let why = if e.is_not_found() {
                    Skip::Gone
                } else {
                    Skip::Unreadable
                };
                tracing::info!(folder_id = %id, error = %e, "folder skipped");
                summary.skip_folder(&id, &title, why, Some(e.to_string()));
            }
            (_, Err(Failure::DocSpace(e))) => return Err(e.into()),
            (_, Err(Failure::Job(e))) => return Err(e),
        }
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        sink.progress(&summary);
    }
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// Start indexes of the pages still to list after the page that started at `start`: all of
/// them after the first page when DocSpace sent `total` (listed last first, so that the stack
/// takes them in order); without a total, the next one after each full page.
fn more_pages(page: &FolderPage, start: u32) -> impl Iterator<Item = u32> {
    let got = page.len() as u64;
    let step = u64::from(PAGE_SIZE);
    let starts: Vec<u32> = match page.total {
        _ if got == 0 => Vec::new(),
        Some(total) if start == 0 && total > got => (1..)
            .map(|i| i * step)
            .take_while(|s| *s < total)
            .filter_map(|s| u32::try_from(s).ok())
            .collect(),
        None if got >= step => u32::try_from(u64::from(start) + got).into_iter().collect(),
        _ => Vec::new(),
    };
    starts.into_iter().rev()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(len: usize, total: Option<u64>) -> FolderPage {
        FolderPage {
            current: None,
            path: vec![],
            folders: (0..len)
                .map(|i| crate::docspace::FolderInfo {
                    id: i.to_string(),
                    title: String::new(),
                    parent_id: None,
                    root_folder_type: None,
                    room_type: None,
                })
                .collect(),
            files: vec![],
            start_index: 0,
            total,
        }
    }

    #[test]
    fn pages_after_the_first_come_from_its_total() {
        let starts: Vec<u32> = more_pages(&page(100, Some(250)), 0).collect();
        assert_eq!(starts, vec![200, 100]);
        assert_eq!(more_pages(&page(100, Some(250)), 100).count(), 0);
        assert_eq!(more_pages(&page(100, Some(100)), 0).count(), 0);
        assert_eq!(more_pages(&page(40, Some(40)), 0).count(), 0);
        assert_eq!(more_pages(&page(0, Some(500)), 0).count(), 0);
    }

    /// Folders `ids` as one page of a listing of `total` entries.
    fn of(ids: &[usize], total: u64) -> FolderPage {
        let mut p = page(0, Some(total));
        p.folders = page(ids.iter().max().map_or(0, |m| m + 1), None)
            .folders
            .into_iter()
            .filter(|f| ids.contains(&f.id.parse().unwrap_or(usize::MAX)))
            .collect();
        p
    }

    fn ids(p: &FolderPage) -> Vec<String> {
        p.folders.iter().map(|f| f.id.clone()).collect()
    }

    #[test]
    fn a_listing_read_without_a_change_is_read_once() {
        let mut pager = Pager::default();
        let l = Listing::Rooms;
        assert_eq!(pager.take(&l, 0, &mut of(&[0, 1], 4), 1), Then::Go);
        assert_eq!(pager.take(&l, 2, &mut of(&[2, 3], 4), 0), Then::Go);
        assert!(pager.reading.is_empty());
    }

    #[test]
    fn an_entry_on_two_pages_of_one_reading_has_the_listing_read_again_without_it() {
        let mut pager = Pager::default();
        let l = Listing::Folder("7".into());
        assert_eq!(pager.take(&l, 0, &mut of(&[0, 1], 4), 1), Then::Go);
        // Entry 1 slid onto the second page: something before it changed, and may have pushed
        // another entry onto the first page, already read.
        let mut second = of(&[1, 2], 4);
        assert_eq!(pager.take(&l, 2, &mut second, 0), Then::ListAgain);
        assert_eq!(ids(&second), ["2"], "entry 1 is not taken twice");
        // The listing read again: only what was missed is taken.
        let mut first = of(&[3, 0], 4);
        assert_eq!(pager.take(&l, 0, &mut first, 1), Then::Go);
        assert_eq!(ids(&first), ["3"]);
        let mut second = of(&[1, 2], 4);
        assert_eq!(pager.take(&l, 2, &mut second, 0), Then::Go);
        assert!(second.folders.is_empty());
        assert!(pager.reading.is_empty());
    }

    #[test]
    fn a_total_that_changes_has_the_listing_read_again_at_most_twice() {
        let mut pager = Pager::default();
        let l = Listing::Rooms;
        assert_eq!(pager.take(&l, 0, &mut of(&[0, 1], 4), 1), Then::Go);
        assert_eq!(pager.take(&l, 2, &mut of(&[3], 3), 0), Then::ListAgain);
        for total in [4, 5] {
            assert_eq!(pager.take(&l, 0, &mut of(&[0, 1], total), 1), Then::Go);
            let again = pager.take(&l, 2, &mut of(&[2], total + 1), 0);
            let expected = if total == 4 {
                Then::ListAgain
            } else {
                Then::Go
            };
            assert_eq!(again, expected, "total {total}");
        }
        assert!(pager.reading.is_empty());
    }

    #[test]
    fn without_a_total_full_pages_are_followed_one_by_one() {
        let starts: Vec<u32> = more_pages(&page(100, None), 200).collect();
        assert_eq!(starts, vec![300]);
        assert_eq!(more_pages(&page(99, None), 200).count(), 0);
    }
}
