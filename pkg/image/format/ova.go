package format

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/edgeimg/edgeimg/pkg/image/disk"
)

// writeOVA writes an OVF 1.0 appliance (what VirtualBox exports and
// imports): <name>.ovf, <name>-disk1.vmdk (streamOptimized) and <name>.mf
// (SHA256 digests) in one tar, the descriptor first. The descriptor holds
// the standard hardware section (CPUs, memory, SATA disk, NAT NIC) and
// VirtualBox's own machine section, which is where VirtualBox reads the
// EFI firmware setting from.
func writeOVA(ctx context.Context, env *Env, raw, dst string) error {
	work, err := os.MkdirTemp(filepath.Dir(dst), ".ova-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	base := env.Name
	vmdkName := base + "-disk1.vmdk"
	vmdk := filepath.Join(work, vmdkName)
	if err := env.Tools.Run(ctx, env.Log, nil, "qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, vmdk); err != nil {
		return err
	}
	fi, err := os.Stat(raw)
	if err != nil {
		return err
	}
	vi, err := os.Stat(vmdk)
	if err != nil {
		return err
	}
	ovf, err := OVF(OVFParams{
		Name: base, VMDK: vmdkName, VMDKSize: vi.Size(), Capacity: fi.Size(),
		CPUs: max(env.CPUs, 1), MemoryMiB: env.MemoryMiB,
		DiskUUID: disk.DeriveUUID(env.Seed, "ova-disk"), MachineUUID: disk.DeriveUUID(env.Seed, "ova-machine"),
		MAC: "080027" + strings.ToUpper(strings.ReplaceAll(disk.DeriveUUID(env.Seed, "ova-mac"), "-", "")[:6]),
	})
	if err != nil {
		return err
	}
	vmdkSum, err := fileSHA256(vmdk)
	if err != nil {
		return err
	}
	ovfSum := sha256.Sum256(ovf)
	mf := fmt.Sprintf("SHA256(%s.ovf)= %s\nSHA256(%s)= %s\n", base, hex.EncodeToString(ovfSum[:]), vmdkName, vmdkSum)

	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	mtime := time.Unix(0, 0)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(base+".ovf", int64(len(ovf)), strings.NewReader(string(ovf))); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	vf, err := os.Open(vmdk)
	if err != nil {
		return err
	}
	defer vf.Close()
	if err := add(vmdkName, vi.Size(), vf); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	if err := add(base+".mf", int64(len(mf)), strings.NewReader(mf)); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("ova: %w", err)
	}
	return out.Sync()
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// OVFParams fill the OVF descriptor.
type OVFParams struct {
	Name        string
	VMDK        string
	VMDKSize    int64
	Capacity    int64
	CPUs        int
	MemoryMiB   int64
	DiskUUID    string
	MachineUUID string
	MAC         string
}

// OVF renders the descriptor; the result is checked to be well-formed XML.
func OVF(p OVFParams) ([]byte, error) {
	var b strings.Builder
	if err := ovfTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("ovf: %w", err)
	}
	out := []byte(b.String())
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("ovf: not well-formed: %w", err)
		}
	}
	return out, nil
}

var ovfTemplate = template.Must(template.New("ovf").Parse(`<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="{{.VMDK}}" ovf:size="{{.VMDKSize}}"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="{{.Capacity}}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" vbox:uuid="{{.DiskUUID}}"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{.Name}}">
    <Info>A virtual machine</Info>
    <ProductSection>
      <Info>Meta-information about the installed software</Info>
      <Product>{{.Name}} (edgeimg)</Product>
    </ProductSection>
    <OperatingSystemSection ovf:id="96">
      <Info>The kind of installed guest operating system</Info>
      <Description>Debian_64</Description>
      <vbox:OSType ovf:required="false">Debian_64</vbox:OSType>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{.Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Caption>{{.CPUs}} virtual CPU</rasd:Caption>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.CPUs}} virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.CPUs}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:Caption>{{.MemoryMiB}} MB of memory</rasd:Caption>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.MemoryMiB}} MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.MemoryMiB}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>sataController0</rasd:Caption>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
        <rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:Caption>disk1</rasd:Caption>
        <rasd:Description>Disk Image</rasd:Description>
        <rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
    <vbox:Machine ovf:required="false" version="1.16-linux" uuid="{{"{"}}{{.MachineUUID}}{{"}"}}" name="{{.Name}}" OSType="Debian_64">
      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>
      <Hardware>
        <CPU count="{{.CPUs}}">
          <PAE enabled="true"/>
          <LongMode enabled="true"/>
          <HardwareVirtExLargePages enabled="true"/>
        </CPU>
        <Memory RAMSize="{{.MemoryMiB}}"/>
        <Firmware type="EFI"/>
        <Chipset type="ICH9"/>
        <Boot>
          <Order position="1" device="HardDisk"/>
        </Boot>
        <Display VRAMSize="16"/>
        <RTC localOrUTC="UTC"/>
        <Network>
          <Adapter slot="0" enabled="true" MACAddress="{{.MAC}}" type="82540EM">
            <NAT/>
          </Adapter>
        </Network>
        <UART>
          <Port slot="0" enabled="false" IOBase="0x3f8" IRQ="4" hostMode="Disconnected"/>
        </UART>
        <StorageControllers>
          <StorageController name="SATA" type="AHCI" PortCount="1" useHostIOCache="false" Bootable="true" IDE0MasterEmulationPort="0" IDE0SlaveEmulationPort="1" IDE1MasterEmulationPort="2" IDE1SlaveEmulationPort="3">
            <AttachedDevice type="HardDisk" hotpluggable="false" port="0" device="0">
              <Image uuid="{{"{"}}{{.DiskUUID}}{{"}"}}"/>
            </AttachedDevice>
          </StorageController>
        </StorageControllers>
      </Hardware>
    </vbox:Machine>
  </VirtualSystem>
</Envelope>
`))
