/* decp-dataplane-dpdk: `decp-dataplane --stack dpdk` as its own executable (dp_dpdk_app.h). */
#include "dp_dpdk_app.h"

int main(int argc, char **argv)
{
	return dp_dpdk_main(argc, argv);
}
