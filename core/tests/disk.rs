//! The box's disk bounds what it can write: a box that fills it gets ENOSPC inside and the
//! host gives it no more than its size; its files outlive stops; nothing of the disk (loop
//! device, mount) outlives the box, even when its shim is SIGKILLed. Real boxes; the host side
//! read from the image file, /sys/block and the mount table.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boxlite_core::{BoxOptions, LiteBox};
use common::TestHome;

const GIB: u64 = 1 << 30;

fn box_dir(t: &TestHome, b: &LiteBox) -> PathBuf {
    t.path().join("boxes").join(b.id())
}

async fn run(b: &LiteBox, script: &str) -> (String, String, Option<i32>) {
    common::run_script(b, script, Duration::from_secs(120)).await
}

/// Lines of the host's mount table (of every process we can see) that name `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    table.lines().filter(|l| l.contains(&needle)).map(str::to_string).collect()
}

#[tokio::test]
async fn a_full_disk_is_enospc_inside_and_costs_the_host_at_most_its_size() {
    let t = TestHome::new();
    let b = t.rt.create(BoxOptions { disk_size_gb: Some(1), ..t.options() }, None).unwrap();
    assert_eq!(b.info().unwrap().limits.disk_size_gb, 1);
    b.start().await.unwrap();
    let fill = "dd if=/dev/zero of=/filler bs=1048576 count=1536 2>&1 | grep -c 'No space'; \
                sync; df -k / | tail -n 1";
    let (out, err, code) = run(&b, fill).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("1\n"), "dd did not fail with ENOSPC: {out}");
    let df: Vec<u64> =
        out.lines().last().unwrap().split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // Size, used, available (KiB): the box sees a 1 GiB disk, full (to the last, partial
    // megabyte dd could not write).
    assert!(df[0] <= GIB / 1024 && df[0] > GIB / 1024 * 9 / 10, "{out}");
    assert!(df[2] < 1024, "{out}");

    // The host: one sparse file of 1 GiB apparent size holds it all, and no more than that.
    let image = box_dir(&t, &b).join("disk.img");
    let meta = std::fs::metadata(&image).unwrap();
    assert_eq!(meta.len(), GIB);
    assert!(meta.blocks() * 512 <= GIB, "{} bytes allocated", meta.blocks() * 512);
    assert!(meta.blocks() * 512 > GIB / 2, "the filler is not in the image");
    // Nor was any of it written beside the image, in the box's host directory.
    let (mut found, upper) = (Vec::new(), box_dir(&t, &b).join("upper"));
    common::find_named(t.path(), "filler", &mut found);
    assert!(found.is_empty() && !upper.exists(), "written on the host: {found:?}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn files_stay_on_the_disk_across_stops_and_nothing_of_it_outlives_the_box() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    assert_eq!(b.info().unwrap().limits.disk_size_gb, 10);
    b.start().await.unwrap();
    let dir = box_dir(&t, &b);
    let image = dir.join("disk.img");
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 10 * GIB);
    assert_eq!(common::loop_devices_under(&image).len(), 1, "one loop device while the box runs");
    // The disk is mounted in the box's mount namespace only.
    assert_eq!(host_mounts_under(&dir), Vec::<String>::new());
    let (out, err, code) = run(&b, "echo kept > /etc/kept && df -k / | tail -n 1").await;
    assert_eq!(code, Some(0), "{out}{err}");

    b.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        common::loop_devices_under(&image),
        Vec::<String>::new(),
        "loop device left after stop"
    );

    b.start().await.unwrap();
    let (out, _, _) = run(&b, "cat /etc/kept").await;
    assert_eq!(out, "kept\n");
    // A shim killed outright: the box's namespaces go with its processes, and the disk's
    // mount and loop device with them.
    let shim = b.info().unwrap().pid.unwrap();
    let agent = common::agent_of(shim);
    // SAFETY: a signal to the box's shim, which this test started.
    assert_eq!(unsafe { libc::kill(shim as i32, libc::SIGKILL) }, 0);
    // The agent dies with its shim (PDEATHSIG); its exit tears down the box's mount
    // namespace, and the disk's last user with it.
    assert!(common::wait_exited(agent, Duration::from_secs(10)), "agent outlived its shim");
    assert_eq!(
        common::loop_devices_under(&image),
        Vec::<String>::new(),
        "loop device left after SIGKILL"
    );
    t.rt.remove(b.id(), true).unwrap();
    assert!(!image.exists());
}

#[tokio::test]
async fn a_new_box_s_disk_costs_the_host_a_fraction_of_a_mebibyte() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    b.stop(Duration::from_secs(5)).await.unwrap();
    // Mounted, journalled and unmounted once, with the overlay's dirs made on it: what the
    // template's data and a first mount write, read from the image's allocated blocks.
    let image = box_dir(&t, &b).join("disk.img");
    let allocated = std::fs::metadata(&image).unwrap().blocks() * 512;
    eprintln!("a new box's disk: {allocated} bytes allocated");
    assert!(allocated < 1 << 20, "{allocated} bytes allocated for an empty box disk");
}

#[tokio::test]
async fn a_box_made_before_disks_keeps_its_host_upper_dir() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    // What an earlier boxlite left: the box's changes in a plain upper dir.
    let upper = box_dir(&t, &b).join("upper/etc");
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::write(upper.join("legacy"), "from before\n").unwrap();
    b.start().await.unwrap();
    let (out, err, _) = run(&b, "cat /etc/legacy").await;
    assert_eq!(out, "from before\n", "{err}");
    assert!(!box_dir(&t, &b).join("disk.img").exists());
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn an_image_that_is_not_ext4_is_kept_aside_and_made_anew() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    let dir = box_dir(&t, &b);
    std::fs::create_dir_all(&dir).unwrap();
    // What a host that lost power right after making an image may leave: no superblock.
    let zeros = std::fs::File::create(dir.join("disk.img")).unwrap();
    zeros.set_len(10 * GIB).unwrap();
    drop(zeros);
    b.start().await.unwrap();
    let (_, err, code) = run(&b, "echo ok > /ok").await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::metadata(dir.join("disk.img.damaged")).unwrap().len(), 10 * GIB);
    let log = std::fs::read_to_string(dir.join("logs/box.log")).unwrap();
    assert!(log.contains("is not an ext4 image"), "{log}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}
