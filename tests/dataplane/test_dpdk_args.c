/*
 * dp_dpdk_eal_args_check: the guard that keeps EAL away from the machine's NIC. Pure
 * function, no EAL started: every accepted form and every refused one. And
 * dp_dpdk_eal_wants_unlink: --huge-unlink is added unless the arguments settle it.
 */
#include <CUnit/Basic.h>
#include <errno.h>

#include "dp_dpdk_port.h"

static int check(int argc, char *const *argv)
{
	return dp_dpdk_eal_args_check(argc, argv);
}

static void test_no_pci_accepted(void)
{
	char *const a[] = {"x", "--no-pci", "--vdev", "net_tap0,iface=t0", NULL};
	CU_ASSERT_EQUAL(check(4, a), 0);
	char *const b[] = {"x", "-l", "0-1", "--no-pci", NULL};
	CU_ASSERT_EQUAL(check(4, b), 0);
}

static void test_allow_list_accepted(void)
{
	char *const a[] = {"x", "-a", "0000:03:00.0", NULL};
	CU_ASSERT_EQUAL(check(3, a), 0);
	char *const b[] = {"x", "-a0000:03:00.0", NULL};
	CU_ASSERT_EQUAL(check(2, b), 0);
	char *const c[] = {"x", "--allow", "0000:03:00.0", NULL};
	CU_ASSERT_EQUAL(check(3, c), 0);
	char *const d[] = {"x", "--allow=0000:03:00.0", NULL};
	CU_ASSERT_EQUAL(check(2, d), 0);
}

static void test_refused(void)
{
	char *const none[] = {"x", NULL};
	CU_ASSERT_EQUAL(check(1, none), -EPERM);
	char *const vdev_only[] = {"x", "--vdev", "net_tap0", "-l", "0-1", NULL};
	CU_ASSERT_EQUAL(check(5, vdev_only), -EPERM);
	/* A block list still probes every other NIC. */
	char *const block[] = {"x", "-b", "0000:03:00.0", NULL};
	CU_ASSERT_EQUAL(check(3, block), -EPERM);
	/* argv[0] is the program name, never an option. */
	char *const name[] = {"--no-pci", "-l", "0", NULL};
	CU_ASSERT_EQUAL(check(3, name), -EPERM);
	/* Look-alikes are not the option. */
	char *const alike[] = {"x", "--no-pcix", "--no-pc", NULL};
	CU_ASSERT_EQUAL(check(3, alike), -EPERM);
}

static void test_huge_unlink(void)
{
	char *const plain[] = {"x", "--no-pci", "--vdev", "net_tap0", "-m", "256", NULL};
	CU_ASSERT_TRUE(dp_dpdk_eal_wants_unlink(6, plain));
	char *const prefix[] = {"x", "--no-pci", "--file-prefix", "decp-demo-1", NULL};
	CU_ASSERT_TRUE(dp_dpdk_eal_wants_unlink(4, prefix));
	char *const given[] = {"x", "--no-pci", "--huge-unlink", NULL};
	CU_ASSERT_FALSE(dp_dpdk_eal_wants_unlink(3, given));
	char *const never[] = {"x", "--huge-unlink=never", "--no-pci", NULL};
	CU_ASSERT_FALSE(dp_dpdk_eal_wants_unlink(3, never));
	char *const no_huge[] = {"x", "--no-pci", "--no-huge", "-m", "256", NULL};
	CU_ASSERT_FALSE(dp_dpdk_eal_wants_unlink(5, no_huge));
	char *const in_mem[] = {"x", "--in-memory", "--no-pci", NULL};
	CU_ASSERT_FALSE(dp_dpdk_eal_wants_unlink(3, in_mem));
	char *const single[] = {"x", "--no-pci", "--single-file-segments", NULL};
	CU_ASSERT_FALSE(dp_dpdk_eal_wants_unlink(3, single));
	/* argv[0] is the program, not an option */
	char *const prog[] = {"--no-huge", "--no-pci", NULL};
	CU_ASSERT_TRUE(dp_dpdk_eal_wants_unlink(2, prog));
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("dpdk_args", NULL, NULL);
	CU_add_test(s, "--no-pci accepted", test_no_pci_accepted);
	CU_add_test(s, "allow-list accepted", test_allow_list_accepted);
	CU_add_test(s, "everything else refused", test_refused);
	CU_add_test(s, "--huge-unlink added unless the arguments settle it", test_huge_unlink);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned int f = CU_get_number_of_failures();
	CU_cleanup_registry();
	return f == 0 ? 0 : 1;
}
